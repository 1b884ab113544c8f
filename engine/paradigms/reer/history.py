"""One item's REER search, read back from the store for the GUI: z versions, scores, leaks.

``search_history(store, run_id, item_id)`` gives the versions of z the search went
through (z0, then each accepted edit) with every segment's score change, the score per
iteration (every candidate's and the best so far), and the spans of z* that copy the
reference answer y (``leakage.copied_spans``). ``searched_items`` lists the items of a run
that have a search. Reads the traces the search stage wrote (``search.py``); no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.paradigms.reer.leakage import Span, copied_spans
from engine.store import Store, from_json


@dataclass(frozen=True)
class Version:
    """One z the search held as its best: z0 (``edited`` None) or an accepted edit."""

    trace_id: int
    label: str
    segments: list[str]
    score: float
    edited: int | None  # the segment this version changed
    deltas: list[float]  # per segment: the score change its accepted edit brought so far


@dataclass(frozen=True)
class Iteration:
    """One segment's edit: every candidate's score and the best score after it."""

    segment: int
    candidates: list[float]
    best: float
    accepted: bool


@dataclass(frozen=True)
class History:
    item_id: int
    versions: list[Version]
    iterations: list[Iteration]
    z_star: str
    answer: str
    spans: list[Span]


def searched_items(store: Store, run_id: int) -> list[tuple[int, float]]:
    """(item id, score drop z0 -> z*) of every item the run's search finished."""
    rows = store.query("SELECT item_id, score FROM traces WHERE run_id = ? AND stage = 'search' "
                       "AND role = 'z-star' ORDER BY item_id", (run_id,))
    return [(int(i), float(s or 0.0)) for i, s in rows]


def search_history(store: Store, run_id: int, item_id: int, min_words: int = 6) -> History | None:
    rows = store.query("SELECT id, role, score, parsed, output FROM traces WHERE run_id = ? AND "
                       "stage = 'search' AND item_id = ? ORDER BY id", (run_id, item_id))
    z0 = next((r for r in rows if r[1] == "z0"), None)
    if z0 is None:
        return None
    draft = store.one("SELECT parsed FROM traces WHERE run_id = ? AND stage = 'draft' AND "
                      "role = 'draft' AND item_id = ?", (run_id, item_id))
    segments = list((from_json(draft[0]) or {}).get("segments") or []) if draft else []
    deltas = [0.0] * len(segments)
    best = float(z0[2]) if z0[2] is not None else float("nan")
    versions = [Version(int(z0[0]), "z0", list(segments), best, None, list(deltas))]
    by_step: dict[int, list[tuple[int, float | None, dict[str, Any]]]] = {}
    for tid, role, score, parsed, _ in rows:
        if role == "candidate":
            info = from_json(parsed) or {}
            by_step.setdefault(int(info.get("segment", -1)), []).append((tid, score, info))
    iterations = []
    for step in sorted(by_step):
        cands = by_step[step]
        taken = next(((tid, s, i) for tid, s, i in cands if i.get("accepted")), None)
        if taken is not None and taken[1] is not None and 0 <= step < len(segments):
            deltas[step] = float(taken[1]) - best
            best = float(taken[1])
            segments[step] = str(taken[2].get("new_segment", segments[step]))
            versions.append(Version(taken[0], f"edit {len(versions)} (segment {step + 1})",
                                    list(segments), best, step, list(deltas)))
        iterations.append(Iteration(step, [float(s) for _, s, _ in cands if s is not None],
                                    best, taken is not None))
    final = next((r for r in rows if r[1] == "z-star"), None)
    z_star = str(final[4]) if final else "\n\n".join(segments)
    item = store.one("SELECT data FROM items WHERE id = ?", (item_id,))
    answer = str((from_json(item[0]) or {}).get("reference", "")) if item else ""
    return History(item_id, versions, iterations, z_star, answer,
                   copied_spans(z_star, answer, min_words))
