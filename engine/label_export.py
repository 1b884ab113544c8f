"""Human step labels -> training data: three JSONL files per run.

- ``prm``: step labels in PRM800K's shape (github.com/openai/prm800k), one line per labelled
  trace: ``question {problem, ground_truth_answer}``, ``label {steps: [{completions: [{text,
  rating, flagged}], human_completion, chosen_completion}], finish_reason}``, ratings
  1 correct / 0 unsure / -1 wrong. As in PRM800K, a chain's labels stop at its first wrong
  step (``finish_reason: found_error``); a chain labelled correct to the end is a
  ``solution``; a chain whose labels stop early (an unlabelled step) is ``give_up``. A
  correct step the labeller typed for the wrong one is its ``human_completion``.
- ``dpo``: TRL's standard preference rows ``{prompt, chosen, rejected}`` at the first
  human-marked wrong step: prompt = problem + the steps before it, rejected = the wrong
  step, chosen = the step the labeller typed, else the step of a teacher trace of the same
  item aligned with it (a teacher trace not judged wrong and with no step marked wrong).
  Steps before the wrong one that nobody marked count as correct; a prefix holding an
  ``unsure`` mark is skipped (and counted).
- ``sft``: chains whose every step a person marked correct, as ``{question, answer,
  solution, messages}``; a cot recipe trains on it with ``dataset.path`` pointing at the
  file and ``stages.solve.source: gold`` (README, "Labels").

The latest label of a step counts (any author). Knows nothing of Qt.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.browse import item_problem, item_text, role_side
from engine.labels import Label, trace_labels
from engine.steps import align
from engine.store import Store, runs
from engine.store.traces import Trace, get_trace

RATING = {"correct": 1, "unsure": 0, "wrong": -1}
KINDS = ("prm", "dpo", "sft")


@dataclass
class LabelExport:
    paths: dict[str, Path]
    rows: dict[str, int]
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> traces


def _labelled_traces(store: Store, run_id: int) -> list[tuple[Trace, dict[int, Label]]]:
    ids = [int(r[0]) for r in store.query(
        "SELECT DISTINCT l.trace_id FROM step_labels l JOIN traces t ON t.id = l.trace_id "
        "WHERE t.run_id = ? ORDER BY l.trace_id", (run_id,))]
    labels = trace_labels(store, ids)
    out = []
    for tid in ids:
        trace = get_trace(store, tid)
        out.append((trace, {s.id: labels[s.id] for s in trace.steps if s.id in labels}))
    return out


def prm_row(trace: Trace, labels: dict[int, Label], problem: str, gold: str) -> dict[str, Any] | None:
    steps: list[dict[str, Any]] = []
    finish = "solution"
    for step in trace.steps:
        mark = labels.get(step.id)
        if mark is None:
            finish = "give_up"
            break
        rating = RATING[mark.label]
        human = mark.correction if rating == -1 else None
        steps.append({"completions": [{"text": step.text, "rating": rating, "flagged": False}],
                      "human_completion": (None if human is None else
                                           {"text": human, "rating": 1, "source": mark.author}),
                      "chosen_completion": None if human else 0})
        if rating == -1:
            finish = "found_error"
            break
    if not steps:
        return None
    authors = Counter(m.author for m in labels.values())
    return {"labeler": authors.most_common(1)[0][0],
            "timestamp": max(m.created_at for m in labels.values()),
            "is_quality_control_question": False, "is_initial_screening_question": False,
            "question": {"problem": problem, "ground_truth_answer": gold},
            "label": {"steps": steps, "total_time": None, "finish_reason": finish},
            "trace_id": trace.id, "run_id": trace.run_id, "item_id": trace.item_id}


def _teacher_step(store: Store, trace: Trace, wrong_index: int) -> tuple[str, int] | None:
    """(text, trace id) of the step of a sound teacher trace of the same item that aligns
    with ``wrong_index`` of ``trace`` (or follows the last step aligned before it)."""
    if trace.item_id is None:
        return None
    rows = store.query(
        "SELECT t.id FROM traces t WHERE t.item_id = ? AND t.id != ? "
        "AND COALESCE(t.verdict, '') != 'wrong' "
        "AND EXISTS (SELECT 1 FROM steps s WHERE s.trace_id = t.id) "
        "AND NOT EXISTS (SELECT 1 FROM step_labels l WHERE l.trace_id = t.id "
        "AND l.label = 'wrong') ORDER BY (t.verdict = 'correct') DESC, t.id",
        (trace.item_id, trace.id))
    mine = [s.text for s in trace.steps]
    for row in rows:
        teacher = get_trace(store, int(row[0]))
        if role_side(teacher.role) != "teacher":
            continue
        theirs = [s.text for s in teacher.steps]
        after = -1
        for a in align(mine, theirs):
            if a.left == wrong_index and a.right is not None:
                return theirs[a.right], teacher.id
            if a.left is not None and a.left < wrong_index and a.right is not None:
                after = a.right
        if after + 1 < len(theirs):
            return theirs[after + 1], teacher.id
    return None


def dpo_row(store: Store, trace: Trace, labels: dict[int, Label], problem: str,
            skipped: Counter[str]) -> dict[str, Any] | None:
    marks = [labels.get(s.id) for s in trace.steps]
    wrong = next((i for i, m in enumerate(marks) if m is not None and m.label == "wrong"), None)
    if wrong is None:
        return None
    if any(m is not None and m.label == "unsure" for m in marks[:wrong]):
        skipped["dpo: an unsure step before the first wrong one"] += 1
        return None
    mark = marks[wrong]
    assert mark is not None
    if mark.correction:
        chosen, source = mark.correction, mark.author
    else:
        found = _teacher_step(store, trace, wrong)
        if found is None:
            skipped["dpo: no typed correction and no sound teacher trace of the item"] += 1
            return None
        chosen, source = found[0], f"trace {found[1]}"
    prefix = [s.text for s in trace.steps[:wrong]]
    return {"prompt": "\n\n".join([problem, *prefix]).strip() + "\n\n",
            "chosen": chosen, "rejected": trace.steps[wrong].text,
            "chosen_from": source, "trace_id": trace.id, "step_index": wrong,
            "run_id": trace.run_id, "item_id": trace.item_id}


def sft_row(trace: Trace, labels: dict[int, Label], problem: str, gold: str) -> dict[str, Any] | None:
    if not trace.steps or any(labels.get(s.id) is None or labels[s.id].label != "correct"
                              for s in trace.steps):
        return None
    solution = (trace.output or "").strip() or "\n".join(s.text for s in trace.steps)
    return {"question": problem, "answer": gold, "solution": solution,
            "messages": [{"role": "user", "content": problem},
                         {"role": "assistant", "content": solution}],
            "trace_id": trace.id, "run_id": trace.run_id, "item_id": trace.item_id}


def label_rows(store: Store, run_id: int) -> tuple[dict[str, list[dict[str, Any]]], Counter[str]]:
    """The three kinds of rows of a run's labelled traces, and why traces were left out."""
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    skipped: Counter[str] = Counter()
    for trace, labels in _labelled_traces(store, run_id):
        problem, gold = item_problem(item_text(store, trace.item_id))
        problem = problem or (trace.prompt or "")
        for kind, row in (("prm", prm_row(trace, labels, problem, gold)),
                          ("dpo", dpo_row(store, trace, labels, problem, skipped)),
                          ("sft", sft_row(trace, labels, problem, gold))):
            if row is not None:
                out[kind].append(row)
    return out, skipped


def export_labels(db_path: str | Path, run_id: int, out: str | Path | None = None) -> LabelExport:
    """Write ``run-N-labels-{prm,dpo,sft}.jsonl`` into ``out`` (a folder; default: beside
    the database) and record them as artifacts of the run."""
    db_path = Path(db_path)
    with Store(db_path) as store:
        runs.get_run(store, run_id)  # a clear error for an unknown run
        rows, skipped = label_rows(store, run_id)
        folder = Path(out) if out else db_path.resolve().parent
        folder.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for kind in KINDS:
            path = folder / f"run-{run_id}-labels-{kind}.jsonl"
            tmp = path.with_suffix(".jsonl.part")
            with tmp.open("w", encoding="utf-8") as fh:
                for row in rows[kind]:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            tmp.replace(path)
            runs.add_artifact(store, run_id, f"export-labels-{kind}", path,
                              {"rows": len(rows[kind])})
            paths[kind] = path
    return LabelExport(paths, {k: len(v) for k, v in rows.items()}, skipped)
