"""Playground: ask a run's trained student, its base student and its teacher one question and
watch the answers stream in side by side, then aligned step by step (gui.step_compare).

The question is typed, or picked from any data set of the project. Sampling settings
(temperature, top-p, max new tokens, seed) sit beside the Ask button. Generation runs in a
worker process (engine.playground.PlaygroundJob), polled by a timer on the GUI thread: this
window imports no torch, and no QThread is left behind. "Save as a playground run" stores
the answers as traces of the project's playground run, so the Traces view can label them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine import playground as pg
from engine.browse import compare_loaded
from engine.store import Store, items, runs
from engine.store.traces import Trace
from gui.step_compare import StepCompareView

POLL_MS = 50
QUESTION_FIELDS = ("question", "problem", "prompt", "instruction", "input", "text")


def _question_of(data: dict[str, Any]) -> str:
    for key in QUESTION_FIELDS:
        if isinstance(data.get(key), str):
            return str(data[key])
    return next((str(v) for v in data.values() if isinstance(v, str)), "")


def _trace(role: str, model: str, question: str, text: str) -> Trace:
    """An answer as an unsaved trace, for the step alignment."""
    return Trace(id=0, run_id=0, stage=pg.PLAYGROUND, item_id=None, role=role, model=model,
                 prompt=question, output=text, parsed=None, tokens_in=None, tokens_out=None,
                 latency_s=None, cost_usd=None, parent_id=None, sample_index=0, score=None,
                 verdict=None, flag=None, created_at="")


class PlaygroundView(QWidget):
    saved = Signal(list)  # the stored trace ids

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.job: pg.PlaygroundJob | None = None
        self.roles: list[str] = []
        self.texts: list[str] = []
        self.done: dict[int, pg.Done] = {}
        self.asked: str = ""
        self.asked_item: int | None = None
        self._changed = False

        self.run = QComboBox()
        self.run.setToolTip("The run whose models answer: its student with the adapter it "
                            "trained (or the checkpoint kept in Runs), and its teacher.")
        self.use = {m: QCheckBox(pg.LABELS[m]) for m in pg.MODELS}
        for box in self.use.values():
            box.setChecked(True)
        self.dataset = QComboBox()
        self.item = QComboBox()
        self.item.setToolTip("Pick a question of the data set (it replaces the typed one).")
        self.question = QPlainTextEdit()
        self.question.setPlaceholderText("Type a question, or pick one from a data set above.")
        self.question.setMaximumHeight(90)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setToolTip("0 = greedy (the same answer every time).")
        self.top_p = QDoubleSpinBox()
        self.top_p.setRange(0.05, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setValue(1.0)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 8192)
        self.max_tokens.setValue(256)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.ask_button = QPushButton("Ask")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.save_button = QPushButton("Save as a playground run")
        self.save_button.setEnabled(False)
        self.save_button.setToolTip("Store the answers as traces of the project's playground "
                                    "run, to label them in Traces.")
        self.status = QLabel("Pick a run and ask.")
        self.status.setWordWrap(True)

        top = QGridLayout()
        top.addWidget(QLabel("Run"), 0, 0)
        top.addWidget(self.run, 0, 1, 1, 3)
        models = QHBoxLayout()
        for box in self.use.values():
            models.addWidget(box)
        models.addStretch(1)
        top.addWidget(QLabel("Models"), 1, 0)
        top.addLayout(models, 1, 1, 1, 3)
        top.addWidget(QLabel("Data set"), 2, 0)
        top.addWidget(self.dataset, 2, 1)
        top.addWidget(self.item, 2, 2, 1, 2)
        top.setColumnStretch(2, 1)
        sampling = QGroupBox("Sampling")
        sl = QHBoxLayout(sampling)
        for label, widget in (("temperature", self.temperature), ("top-p", self.top_p),
                              ("max new tokens", self.max_tokens), ("seed", self.seed)):
            sl.addWidget(QLabel(label))
            sl.addWidget(widget)
        sl.addStretch(1)
        actions = QHBoxLayout()
        for b in (self.ask_button, self.stop_button, self.save_button):
            actions.addWidget(b)
        actions.addWidget(self.status, 1)

        self.columns = QWidget()
        cl = QHBoxLayout(self.columns)
        cl.setContentsMargins(0, 0, 0, 0)
        self.heads: list[QLabel] = []
        self.boxes: list[QPlainTextEdit] = []
        for _ in range(3):
            col = QVBoxLayout()
            head = QLabel()
            head.setWordWrap(True)
            box = QPlainTextEdit()
            box.setReadOnly(True)
            col.addWidget(head)
            col.addWidget(box, 1)
            cl.addLayout(col, 1)
            self.heads.append(head)
            self.boxes.append(box)
        self.steps = StepCompareView()
        self.steps.setPlaceholderText("The answers, split into steps and aligned, appear here.")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.columns)
        split.addWidget(self.steps)
        split.setSizes([260, 340])

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(QLabel("Question"))
        layout.addWidget(self.question)
        layout.addWidget(sampling)
        layout.addLayout(actions)
        layout.addWidget(split, 1)

        self.dataset.currentIndexChanged.connect(self._fill_items)
        self.item.activated.connect(self._picked)
        self.ask_button.clicked.connect(self.ask)
        self.stop_button.clicked.connect(self.stop)
        self.save_button.clicked.connect(self.save)
        self._timer = QTimer(self, interval=POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.refresh()

    # -- choices ----------------------------------------------------------------------
    def refresh(self) -> None:
        keep_run, keep_ds = self.run.currentData(), self.dataset.currentData()
        with Store(self.db_path, readonly=True) as store:
            listed = [r for r in runs.list_runs(store) if r.paradigm != pg.PLAYGROUND]
            adapters = {r.id: pg.run_adapter(store, r.id) is not None for r in listed}
            sets = store.query("SELECT id, name, n_items FROM datasets ORDER BY id")
        self.run.blockSignals(True)
        self.run.clear()
        for r in listed:
            mark = "trained" if adapters[r.id] else "no adapter"
            self.run.addItem(f"{r.id} · {r.name} · {r.paradigm} · {mark}", r.id)
        if keep_run is not None and self.run.findData(keep_run) >= 0:
            self.run.setCurrentIndex(self.run.findData(keep_run))
        self.run.blockSignals(False)
        self.dataset.blockSignals(True)
        self.dataset.clear()
        for row in sets:
            self.dataset.addItem(f"{row['name'] or 'data set ' + str(row['id'])} "
                                 f"({row['n_items']} items)", int(row["id"]))
        if keep_ds is not None and self.dataset.findData(keep_ds) >= 0:
            self.dataset.setCurrentIndex(self.dataset.findData(keep_ds))
        self.dataset.blockSignals(False)
        self._fill_items()

    def _fill_items(self) -> None:
        self.item.clear()
        ds = self.dataset.currentData()
        if ds is None:
            return
        with Store(self.db_path, readonly=True) as store:
            found = items.get_items(store, int(ds))
        self.item.addItem("— pick a question —", None)
        for it in found[:500]:  # a combo of 500 stays quick; the rest are typed or searched
            text = _question_of(it.data).replace("\n", " ")
            self.item.addItem(f"{it.split} #{it.idx}: {text[:110]}", (it.id, _question_of(it.data)))

    def _picked(self, index: int) -> None:
        data = self.item.itemData(index)
        if data:
            self.question.setPlainText(data[1])
            self.asked_item = int(data[0])

    def settings(self) -> pg.Settings:
        return pg.Settings(temperature=self.temperature.value(), top_p=self.top_p.value(),
                           max_new_tokens=self.max_tokens.value(), seed=self.seed.value())

    # -- asking -------------------------------------------------------------------------
    def ask(self) -> None:
        question = self.question.toPlainText().strip()
        run_id = self.run.currentData()
        self.roles = [m for m in pg.MODELS if self.use[m].isChecked()]
        if not question or run_id is None or not self.roles:
            self.status.setText("✗ Needs a run, at least one model and a question.")
            return
        if self.asked_item is not None and self.item.currentData() and \
                self.item.currentData()[1] != question:
            self.asked_item = None  # the picked question was edited: no longer that item
        self.asked = question
        self.texts = ["" for _ in self.roles]
        self.done = {}
        for i, (head, box) in enumerate(zip(self.heads, self.boxes, strict=True)):
            shown = i < len(self.roles)
            head.setVisible(shown)
            box.setVisible(shown)
            box.clear()
            if shown:
                head.setText(f"<b>{pg.LABELS[self.roles[i]]}</b> · waiting")
        self.job = pg.PlaygroundJob(pg.PlaygroundSpec(str(self.db_path), int(run_id),
                                                      tuple(self.roles), question,
                                                      self.settings()))
        self.ask_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.save_button.setEnabled(False)
        self.status.setText("Loading the models in the worker process…")
        self._timer.start()

    def _poll(self) -> None:
        if self.job is None:
            return
        for event in self.job.events():
            if isinstance(event, pg.Piece):
                if not self.texts[event.slot]:
                    self.heads[event.slot].setText(f"<b>{pg.LABELS[self.roles[event.slot]]}</b>"
                                                   " · streaming")
                    self.status.setText("Streaming…")
                self.texts[event.slot] += event.text
                self.boxes[event.slot].insertPlainText(event.text)
                self._changed = True
            elif isinstance(event, pg.Done):
                self._done(event)
            elif isinstance(event, pg.Finished):
                self._finished()
        if self._changed:
            self._changed = False
            self._align()

    def _done(self, done: pg.Done) -> None:
        if done.slot < 0:  # the worker died
            self.status.setText(f"✗ {done.error}")
            return
        self.done[done.slot] = done
        name = f"<b>{pg.LABELS[self.roles[done.slot]]}</b> · {done.model}"
        if done.error:
            self.heads[done.slot].setText(f"{name} · <span style='color:#d6453d'>✗ "
                                          f"{done.error}</span>")
            return
        tokens = f" · {done.tokens} tokens" if done.tokens else ""
        self.heads[done.slot].setText(f"{name}{tokens} · {done.seconds:.1f} s")
        self.texts[done.slot] = done.text
        self._changed = True

    def _finished(self) -> None:
        self._timer.stop()
        self.job = None
        self.ask_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        ok = [d for d in self.done.values() if not d.error]
        self.save_button.setEnabled(bool(ok))
        if not self.status.text().startswith("✗"):
            self.status.setText(f"{len(ok)} of {len(self.roles)} answered.")
        self._align()

    def _align(self) -> None:
        shown = [(role, text) for role, text in zip(self.roles, self.texts, strict=True)
                 if text.strip()]
        if not shown:
            return
        traces = [_trace(role, pg.LABELS[role], self.asked, text) for role, text in shown]
        self.steps.show_comparison(compare_loaded(traces, diff_any_kind=False))

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()
            self.status.setText("Stopped.")
            self._finished()

    def save(self) -> list[int]:
        answers = [(self.roles[slot], d) for slot, d in sorted(self.done.items()) if not d.error]
        with Store(self.db_path) as store:
            ids = pg.save_exchange(store, question=self.asked, answers=answers,
                                   source_run=int(self.run.currentData()),
                                   settings=self.settings(), item_id=self.asked_item)
            play = pg.playground_run(store)
        self.status.setText(f"✓ Saved {len(ids)} answers as traces of run {play} (playground); "
                            "label them in Traces.")
        self.save_button.setEnabled(False)
        self.saved.emit(ids)
        return ids

    def closeEvent(self, event: Any) -> None:
        self.stop()
        super().closeEvent(event)


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    from gui.sample_data import make_sample_project
    from gui.theme import apply_theme

    app = QApplication(sys.argv)
    apply_theme(app, "light")
    db = Path("/tmp/distillab-playground-preview.db")
    if not db.exists():
        make_sample_project(db)
    view = PlaygroundView(db)
    view.resize(1300, 850)
    view.show()
    sys.exit(app.exec())
