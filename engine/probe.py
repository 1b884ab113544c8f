"""The training cockpit's probe set: a few validation rows decoded at every saved checkpoint.

``training.probe_items`` (N, 0 = off) validation rows are answered greedily, with at most
``training.probe_max_new_tokens`` tokens, before the first step (checkpoint 0) and after each
checkpoint the Trainer saves. Each answer is stored as a trace of the training stage with
role ``probe``, model ``checkpoint-<step>``, ``sample_index`` the probe row, and in
``parsed`` the checkpoint step and folder, the answer read out of it and the reference's;
its verdict is passed/failed when the reference states an answer (numbers compared the way
the math tasks read them), else none. A resumed run skips checkpoints already probed.

``timeline`` reads them back as a probe row x checkpoint grid for the Run monitor (when an
answer appears, changes, or flips between right and wrong); ``keep_checkpoint`` registers a
checkpoint's adapter as the run's newest adapter artifact, which is what later stages, the
playground and exports take (``blocks.trained_adapter``).

Knows nothing of Qt; the model code is imported inside functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.steps import split_steps
from engine.store import StepIn, Store, runs, traces
from engine.tasks.numbers import read_answer

ROLE = "probe"


def _answer(text: str) -> str | None:
    try:
        return read_answer(text)
    except (ValueError, ArithmeticError):
        return None


def _prompt_text(prompt: Any) -> str:
    """The last user turn of a chat prompt, or the text prompt itself."""
    if isinstance(prompt, str):
        return prompt
    return str(prompt[-1]["content"]) if prompt else ""


def probed_steps(store: Store, run_id: int, stage: str) -> set[int]:
    """Checkpoint steps of a stage that already have probe traces (a resumed run skips them)."""
    rows = store.query("SELECT DISTINCT json_extract(parsed, '$.checkpoint') FROM traces "
                       "WHERE run_id = ? AND stage = ? AND role = ?", (run_id, stage, ROLE))
    return {int(r[0]) for r in rows if r[0] is not None}


def decode_probe(store: Store, *, run_id: int, stage: str, rows: Sequence[dict[str, Any]],
                 model: Any, tokenizer: Any, step: int, checkpoint: Path | None,
                 max_new_tokens: int, on_stored: Callable[[int], None] | None = None) -> int:
    """Answer each probe row greedily with the model as it is at ``step`` and store the
    answers as probe traces (in one transaction); returns how many were stored."""
    from engine.student import sample

    if not rows or step in probed_steps(store, run_id, stage):
        return 0
    outs = sample(model, tokenizer, [r["prompt"] for r in rows], k=1, temperature=0.0,
                  max_new_tokens=max_new_tokens, batch_size=len(rows))
    ids = []
    with store.transaction():
        for i, (row, got) in enumerate(zip(rows, outs, strict=True)):
            text = got[0].text
            answer, reference = _answer(text), _answer(str(row.get("completion", "")))
            verdict = None if reference is None else ("passed" if answer == reference
                                                      else "failed")
            ids.append(traces.add_trace(
                store, run_id=run_id, stage=stage, role=ROLE, model=f"checkpoint-{step}",
                prompt=_prompt_text(row["prompt"]), output=text, sample_index=i,
                tokens_out=got[0].tokens, verdict=verdict,
                score=None if verdict is None else float(verdict == "passed"),
                steps=[StepIn(p.text, p.kind) for p in split_steps(text)],
                parsed={"checkpoint": step, "checkpoint_dir": str(checkpoint) if checkpoint
                        else None, "probe": i, "answer": answer, "reference_answer": reference}))
    for trace_id in ids:
        if on_stored is not None:
            on_stored(trace_id)
    return len(ids)


@dataclass(frozen=True)
class ProbeCell:
    """One probe row's answer at one checkpoint."""

    trace_id: int
    answer: str | None
    verdict: str | None
    flipped: bool  # the answer differs from this row's answer at the previous checkpoint
    steps: int


@dataclass(frozen=True)
class Timeline:
    """Probe answers of one training stage: rows x checkpoints (None: not decoded)."""

    stage: str
    checkpoints: list[int]
    checkpoint_dirs: dict[int, str | None]
    prompts: list[str]
    references: list[str | None]
    cells: list[list[ProbeCell | None]]

    def flips(self, row: int) -> list[int]:
        """The checkpoints at which a probe row's answer changed."""
        return [self.checkpoints[c] for c, cell in enumerate(self.cells[row])
                if cell is not None and cell.flipped]


def timeline(store: Store, run_id: int, stage: str | None = None) -> Timeline | None:
    """The probe grid of a run's training stage (its first with probes when ``stage`` is
    None); None when the run stored no probe traces."""
    if stage is None:
        row = store.one("SELECT stage FROM traces WHERE run_id = ? AND role = ? ORDER BY id "
                        "LIMIT 1", (run_id, ROLE))
        if row is None:
            return None
        stage = str(row[0])
    found = traces.page_traces(store, run_id=run_id, stage=stage, role=ROLE, limit=1_000_000)
    if not found:
        return None
    steps_of: dict[int, int] = {int(r[0]): int(r[1]) for r in store.query(
        "SELECT trace_id, COUNT(*) FROM steps WHERE trace_id IN "
        "(SELECT id FROM traces WHERE run_id = ? AND stage = ? AND role = ?) GROUP BY trace_id",
        (run_id, stage, ROLE))}
    checkpoints = sorted({int(t.parsed["checkpoint"]) for t in found})
    n_rows = max(t.sample_index for t in found) + 1
    column = {c: i for i, c in enumerate(checkpoints)}
    grid: list[list[Any]] = [[None] * len(checkpoints) for _ in range(n_rows)]
    prompts = [""] * n_rows
    references: list[str | None] = [None] * n_rows
    dirs: dict[int, str | None] = {}
    for t in found:
        step = int(t.parsed["checkpoint"])
        dirs[step] = t.parsed.get("checkpoint_dir")
        prompts[t.sample_index] = t.prompt or ""
        references[t.sample_index] = t.parsed.get("reference_answer")
        grid[t.sample_index][column[step]] = t
    cells: list[list[ProbeCell | None]] = []
    for grid_row in grid:
        out: list[ProbeCell | None] = []
        previous: Any = None
        for t in grid_row:
            if t is None:
                out.append(None)
                continue
            answer = t.parsed.get("answer")
            flipped = previous is not None and previous.parsed.get("answer") != answer
            out.append(ProbeCell(t.id, answer, t.verdict, flipped, int(steps_of.get(t.id, 0))))
            previous = t
        cells.append(out)
    return Timeline(stage, checkpoints, dirs, prompts, references, cells)


def keep_checkpoint(store: Store, run_id: int, checkpoint_dir: str | Path, *,
                    stage: str, step: int) -> int:
    """Make a saved checkpoint the run's adapter: it is registered as the newest adapter
    artifact (the Trainer keeps the adapter weights in each checkpoint folder). Raises
    FileNotFoundError, naming the folder, when the checkpoint was deleted (the Trainer keeps
    only ``training.save_total_limit`` of them)."""
    path = Path(checkpoint_dir)
    if not (path / "adapter_config.json").is_file():
        raise FileNotFoundError(
            f"checkpoint {path} has no adapter any more (training keeps only "
            f"training.save_total_limit checkpoints); keep one that is still on disk")
    return runs.add_artifact(store, run_id, "adapter", path,
                             {"stage": stage, "kept_checkpoint": step, "kind": "checkpoint"})
