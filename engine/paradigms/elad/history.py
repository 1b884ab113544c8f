"""An ELAD run read back for a person: per round the selection (every candidate's score,
which were taken), the accuracy and the teacher's cost; per revised item the student's
chain and the teacher's revision aligned step by step, with the teacher's Yes/No per
student step and the student's intra-uncertainty per step (did dropping it change the
answer).

Reads the store only (the traces the ``rounds`` stage writes); no model library, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.store import Store, traces


@dataclass(frozen=True)
class RoundSummary:
    round: int
    method: str
    scores: dict[int, float]  # item id -> the score the selection used
    selected: list[int]
    metrics: dict[str, float]  # this round's metrics (accuracy, costs)


@dataclass(frozen=True)
class Row:
    """One aligned row: the student's step k and what the teacher made of it."""

    number: int
    student: str | None
    verdict: str  # correct | wrong | unjudged | none (no student step)
    revised: str | None
    kept: bool  # the student's step kept as it was (the correct prefix)
    changed_answer: bool | None  # dropping the step changed the student's answer


@dataclass(frozen=True)
class Revision:
    item_id: int
    kind: str  # accepted | revised | full_rewrite | error
    first_no: int | None
    rows: list[Row]
    student_answer: str | None
    revised_answer: str | None
    flag: str | None


def _round(t: traces.Trace) -> int:
    return int((t.parsed or {}).get("round") or 0)


def round_numbers(store: Store, run_id: int) -> list[int]:
    return sorted({_round(t) for t in traces.page_traces(store, run_id=run_id, stage="rounds",
                                                         role="selection", limit=1000)})


def round_summary(store: Store, run_id: int, r: int) -> RoundSummary | None:
    sel = [t for t in traces.page_traces(store, run_id=run_id, stage="rounds", role="selection",
                                         limit=1000) if _round(t) == r]
    if not sel:
        return None
    parsed = sel[0].parsed or {}
    rows = store.query("SELECT name, value FROM metrics WHERE run_id = ? AND stage = 'rounds' "
                       "AND step = ? ORDER BY id", (run_id, r))
    return RoundSummary(r, str(parsed.get("method")),
                        {int(k): float(v) for k, v in (parsed.get("scores") or {}).items()},
                        [int(i) for i in parsed.get("selected") or []],
                        {str(n): float(v) for n, v in rows})


@dataclass(frozen=True)
class Point:
    """Accuracy after a round (0: untrained) against what the run had spent by then."""

    round: int
    accuracy: float
    low: float
    high: float
    teacher_tokens: float
    compute_tokens: float


def accuracy_curve(store: Store, run_id: int) -> list[Point]:
    """Round 0 (the baseline stage) and every evaluated round, in order."""
    rows = store.query("SELECT name, value, step FROM metrics WHERE run_id = ? AND ((stage = "
                       "'rounds' AND step IS NOT NULL) OR name LIKE 'accuracy_base%') "
                       "ORDER BY id", (run_id,))
    by: dict[int, dict[str, float]] = {}
    for name, value, step in rows:
        if str(name).startswith("accuracy_base"):
            by.setdefault(0, {})[str(name).replace("accuracy_base", "accuracy")] = float(value)
        else:
            by.setdefault(int(step), {})[str(name)] = float(value)
    return [Point(r, m["accuracy"], m.get("accuracy_ci_low", m["accuracy"]),
                  m.get("accuracy_ci_high", m["accuracy"]), m.get("teacher_tokens_total", 0.0),
                  m.get("compute_tokens_total", 0.0))
            for r, m in sorted(by.items()) if "accuracy" in m]


def _answer(text: str) -> str | None:
    from engine.steps import chain_steps

    return chain_steps(text).answer_line


def revisions(store: Store, run_id: int, r: int) -> list[Revision]:
    """Round r's revised items, in selection order."""
    every = [t for t in traces.page_traces(store, run_id=run_id, stage="rounds", limit=10**7)
             if _round(t) == r]
    scored = {t.parent_id: t for t in every if t.role == "score"}
    out = []
    for rev in (t for t in every if t.role == "revised"):
        student = traces.get_trace(store, rev.parent_id) if rev.parent_id else None
        revised = traces.get_trace(store, rev.id)
        s_steps = [s for s in student.steps if s.kind == "step"] if student else []
        r_steps = [s for s in revised.steps if s.kind == "step"]
        score = scored.get(rev.parent_id)
        intra = [s.metrics or {} for s in traces.get_trace(store, score.id).steps] \
            if score else []
        parsed = rev.parsed or {}
        kept = int(parsed.get("kept_steps") or 0)
        rows = []
        for k in range(max(len(s_steps), len(r_steps))):
            s = s_steps[k] if k < len(s_steps) else None
            verdict = "none" if s is None else {"correct": "correct", "wrong": "wrong"}.get(
                s.verdict, "unjudged")
            changed = intra[k].get("agreed") if k < len(intra) else None
            rows.append(Row(k + 1, s.text if s else None, verdict,
                            r_steps[k].text if k < len(r_steps) else None, k < kept,
                            None if changed is None else not changed))
        out.append(Revision(int(rev.item_id or 0), str(parsed.get("kind")),
                            parsed.get("first_no"), rows,
                            _answer(student.output or "") if student else None,
                            _answer(rev.output or ""), rev.flag))
    return out
