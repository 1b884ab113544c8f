"""GUI latency on a big project: time to first paint of the Traces view over 100k traces with
1M steps, and time to show an aligned side-by-side comparison of two 50-step traces.

    QT_QPA_PLATFORM=offscreen python bench/gui_latency.py [--db PATH] [--traces N]

The database is generated with executemany (about 10-20 s); --db reuses one. Goals:
first paint < 500 ms, aligned comparison < 100 ms. Last line:
``gui_traces_first_paint_ms: <ms>``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.store import Store, now, runs

STEPS_PER_TRACE = 10
WORDS = ("add subtract total apples each so the answer left multiply divide bags cookies "
         "remaining first then gives per hour price cost").split()


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + f" = {rng.randrange(1000)}."


def generate(db: Path, n_traces: int) -> tuple[int, int]:
    """Fill ``db``: one run, n/10 items, n traces of 10 steps; returns two 50-step trace ids."""
    rng = random.Random(0)
    n_items = max(1, n_traces // 10)
    with Store(db) as store:
        run = runs.create_run(store, name="bench", paradigm="smoke", recipe_yaml="bench",
                              seed=0, stage_names=["teach", "evaluate"])
        with store.transaction():
            ds = store.insert("datasets", {"name": "bench", "source": "bench",
                                           "content_hash": f"bench-{n_traces}",
                                           "n_items": n_items, "created_at": now()})
            store.conn.executemany(
                "INSERT INTO items (id, dataset_id, idx, split, item_hash, data) "
                "VALUES (?, ?, ?, 'test', ?, ?)",
                ((i + 1, ds, i, f"h{i}", f'{{"question": "Question number {i}?"}}')
                 for i in range(n_items)))
            created = now()
            roles = ("teacher", "student", "reviser")
            store.conn.executemany(
                "INSERT INTO traces (id, run_id, stage, item_id, role, model, output, "
                "sample_index, verdict, created_at) VALUES (?, ?, ?, ?, ?, 'm', ?, 0, ?, ?)",
                ((t + 1, run.id, "teach" if t % 3 == 0 else "evaluate", t % n_items + 1,
                  roles[t % 3], f"trace {t}: " + _sentence(rng, 12),
                  "wrong" if t % 4 == 0 else "correct", created) for t in range(n_traces)))
            store.conn.executemany(
                "INSERT INTO steps (trace_id, idx, kind, text, verdict, metrics) "
                "VALUES (?, ?, 'step', ?, ?, ?)",
                ((t + 1, k, _sentence(rng, 8), "wrong" if (t + k) % 7 == 0 else "correct",
                  f'{{"log_ppl": {rng.random() * 3:.3f}}}')
                 for t in range(n_traces) for k in range(STEPS_PER_TRACE)))
        ids = []
        base = [_sentence(rng, 10) for _ in range(50)]
        for variant in range(2):
            with store.transaction():
                trace_id = store.insert("traces", {
                    "run_id": run.id, "stage": "evaluate", "item_id": 1,
                    "role": ("student", "reviser")[variant], "output": "\n".join(base),
                    "sample_index": variant, "created_at": now()})
                for k, text in enumerate(base):
                    if variant and k % 5 == 0:
                        text = text.replace("=", "= not")  # a changed word in every 5th step
                    store.insert("steps", {"trace_id": trace_id, "idx": k, "kind": "step",
                                           "text": text,
                                           "verdict": "wrong" if k == 17 and not variant
                                           else "correct",
                                           "metrics": {"log_ppl": rng.random() * 3}})
            ids.append(trace_id)
    return ids[0], ids[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="reuse (or create) this database")
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="distillab-bench-"))
    os.environ.setdefault("DISTILLAB_HOME", str(folder))
    db = args.db or folder / "bench.db"
    if db.exists():
        with Store(db) as store:
            rows = store.query("SELECT id FROM traces WHERE item_id = 1 AND sample_index IN "
                               "(0, 1) AND (SELECT COUNT(*) FROM steps WHERE trace_id = traces.id)"
                               " = 50 ORDER BY id")
        pair = (int(rows[0][0]), int(rows[1][0]))
    else:
        t0 = time.perf_counter()
        pair = generate(db, args.traces)
        print(f"generated {db} in {time.perf_counter() - t0:.1f} s")
    with Store(db) as store:
        n_traces = store.one("SELECT COUNT(*) FROM traces")[0]
        n_steps = store.one("SELECT MAX(id) FROM steps")[0]
    print(f"database: {n_traces:,} traces, {n_steps:,} steps, "
          f"{db.stat().st_size / 1e6:.0f} MB")

    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    from gui.traces_view import TracesView

    app = QApplication.instance() or QApplication([])

    class Painted(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.done = False

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                self.done = True
            return False

    def first_paint() -> float:
        t0 = time.perf_counter()
        view = TracesView(db)
        painted = Painted()
        view.table.viewport().installEventFilter(painted)
        view.resize(1400, 900)
        view.show()
        while not painted.done:
            app.processEvents()
        app.processEvents()  # let the paint itself finish
        ms = (time.perf_counter() - t0) * 1000
        assert view.model.rowCount() > 0
        view.close()
        view.deleteLater()
        app.processEvents()
        return ms

    def comparison(view: TracesView) -> float:
        t0 = time.perf_counter()
        view.compare(list(pair))
        view.steps.viewport().repaint()
        ms = (time.perf_counter() - t0) * 1000
        comp = view.steps.comparison
        assert comp is not None and len(comp.rows) >= 50
        return ms

    paints = [first_paint() for _ in range(args.repeat)]
    view = TracesView(db)
    view.resize(1400, 900)
    view.show()
    app.processEvents()
    compares = [comparison(view) for _ in range(args.repeat)]
    t0 = time.perf_counter()
    view.model.fetchMore()
    fetch_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    view.role_box.setCurrentText("reviser")
    filter_ms = (time.perf_counter() - t0) * 1000
    view.close()

    print(f"traces view first paint (ms, {args.repeat} runs): "
          f"{', '.join(f'{p:.0f}' for p in paints)}  (goal < 500)")
    print(f"aligned comparison of two 50-step traces (ms): "
          f"{', '.join(f'{c:.1f}' for c in compares)}  (goal < 100)")
    print(f"fetch one more page of 200: {fetch_ms:.1f} ms; role filter: {filter_ms:.1f} ms")
    print(f"gui_compare_50_steps_ms: {statistics.median(compares):.1f}")
    print(f"gui_traces_first_paint_ms: {statistics.median(paints):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
