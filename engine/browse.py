"""Read-side queries for browsing a project: trace pages with filters, step-by-step
comparisons of traces, and run summaries for side-by-side comparison.

The GUI's Traces, Runs and Compare views read through here (and so could a notebook);
it knows nothing of Qt. Paging is keyset-based (``id > after_id``) like
``store.traces.page_traces``, so page 500 of 100k traces costs what page 1 does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine import metric_table
from engine.labels import DISAGREE_SQL, Label, trace_labels
from engine.metrics import wilson
from engine.query import compile_query
from engine.steps import Aligned, align, first_wrong, inline_diff, split_steps
from engine.steps import similarity as step_similarity
from engine.store import Store, calls, from_json, runs
from engine.store.traces import Trace, get_trace

# Characters of a trace's output shown in a table row; the full text is one click away.
PREVIEW_CHARS = 160


@dataclass(frozen=True)
class TraceFilter:
    """What the Traces table shows; None means 'any'."""

    run_id: int | None = None
    stage: str | None = None
    role: str | None = None
    verdict: str | None = None
    passed: bool | None = None  # from evaluations of that trace
    has_wrong_step: bool | None = None
    item_id: int | None = None
    search: str | None = None  # substring of the output, case-insensitive (SQL LIKE)
    query: str | None = None  # the query bar's text (engine.query); raises QueryError
    disagree: bool | None = None  # a human label differs from the teacher's verdict


@dataclass(frozen=True)
class TraceRow:
    """One line of the Traces table (no steps, output cut to a preview)."""

    id: int
    run_id: int
    stage: str
    item_id: int | None
    role: str
    model: str | None
    verdict: str | None
    score: float | None
    n_steps: int
    preview: str
    has_code: bool = False  # the output holds a fenced code block

    @property
    def kind(self) -> str:
        """What the trace is, for word diffs: "code" (a program) or "text" (prose)."""
        return "code" if self.has_code else "text"

    @property
    def bookkeeping(self) -> bool:
        """Nothing to read: an empty output (e.g. explain's empty plan when no Reasoner is
        trained) or a weight trace of older projects (weights are run data now)."""
        return not self.preview.strip() or self.role == "weight"


_ROW_SQL = (
    "SELECT t.id, t.run_id, t.stage, t.item_id, t.role, t.model, t.verdict, t.score, "
    f"substr(t.output, 1, {PREVIEW_CHARS}) AS preview, "
    "instr(t.output, '```') > 0 AS has_code, "
    "(SELECT COUNT(*) FROM steps s WHERE s.trace_id = t.id) AS n_steps FROM traces t")


def _where(f: TraceFilter, after_id: int) -> tuple[str, list[Any]]:
    where = ["t.id > ?"]
    params: list[Any] = [after_id]
    for column, value in (("run_id", f.run_id), ("stage", f.stage), ("role", f.role),
                          ("verdict", f.verdict), ("item_id", f.item_id)):
        if value is not None:
            where.append(f"t.{column} = ?")
            params.append(value)
    if f.search:
        where.append("t.output LIKE ?")
        params.append(f"%{f.search}%")
    if f.passed is not None:
        # non-correlated: SQLite builds the id set once per query, not once per row
        where.append("t.id IN (SELECT trace_id FROM evaluations WHERE passed = ? "
                     "AND trace_id IS NOT NULL)")
        params.append(int(f.passed))
    if f.has_wrong_step is not None:
        exists = "EXISTS (SELECT 1 FROM steps s WHERE s.trace_id = t.id AND s.verdict = 'wrong')"
        where.append(exists if f.has_wrong_step else f"NOT {exists}")
    if f.disagree is not None:
        where.append(f"{'' if f.disagree else 'NOT '}EXISTS ({DISAGREE_SQL})")
    if f.query and f.query.strip():
        sql, values = compile_query(f.query)
        where.append(f"({sql})")
        params += values
    return " AND ".join(where), params


def page_rows(store: Store, f: TraceFilter, *, after_id: int = 0, limit: int = 200) -> list[TraceRow]:
    """One page of table rows matching ``f``, in id order; pass the last id to go on."""
    where, params = _where(f, after_id)
    rows = store.query(f"{_ROW_SQL} WHERE {where} ORDER BY t.id LIMIT ?", [*params, limit])
    return [TraceRow(id=r["id"], run_id=r["run_id"], stage=r["stage"], item_id=r["item_id"],
                     role=r["role"], model=r["model"], verdict=r["verdict"], score=r["score"],
                     n_steps=int(r["n_steps"]),
                     preview=" ".join((r["preview"] or "").split()),
                     has_code=bool(r["has_code"])) for r in rows]


@dataclass(frozen=True)
class FilterChoices:
    """Values the filter boxes offer."""

    runs: list[tuple[int, str]]
    stages: list[str]
    roles: list[str]


def filter_choices(store: Store, run_id: int | None = None) -> FilterChoices:
    """Runs, and the stages and roles present (of one run, or all); uses the
    (run_id, stage, role) index, so it stays fast on 100k traces."""
    run_rows = store.query("SELECT id, name FROM runs ORDER BY id DESC")
    if run_id is None:
        pairs = store.query("SELECT DISTINCT stage, role FROM traces")
    else:
        pairs = store.query("SELECT DISTINCT stage, role FROM traces WHERE run_id = ?", (run_id,))
    return FilterChoices(runs=[(int(r[0]), str(r[1])) for r in run_rows],
                         stages=sorted({str(p[0]) for p in pairs}),
                         roles=sorted({str(p[1]) for p in pairs}))


def item_traces(store: Store, item_id: int, limit: int = 50) -> list[TraceRow]:
    """Every trace of one item (all runs), to pick what to lay side by side."""
    return page_rows(store, TraceFilter(item_id=item_id), limit=limit)


# roles on the teacher's side of distillation (the rest are the student's): the teacher, the
# dataset's reference, explain's explainer and coder (the teacher by default), SuperCorrect's
# reviser, REER's searched thinking z*
_TEACHER_SIDE = ("teacher", "explainer", "coder", "reference", "reviser", "z-star")


def role_side(role: str) -> str:
    return "teacher" if role.startswith(_TEACHER_SIDE) else "student"


def default_partners(siblings: list[TraceRow], anchor_id: int | None, n: int = 2) -> list[int]:
    """The traces worth laying beside ``anchor_id`` (ids, anchor first), at most ``n``
    partners: the same stage and role in other runs (the same job done twice), then a
    trace of the other side (student vs teacher) of the same kind (prose or code), then
    then one of the same side and kind from another stage (the student before and after
    training), then the same role and stage in the same run (another sample). Bookkeeping
    traces never."""
    readable = [t for t in siblings if not t.bookkeeping]
    anchor = next((t for t in siblings if t.id == anchor_id), readable[0] if readable else None)
    if anchor is None:
        return []
    others = [t for t in readable if t.id != anchor.id]
    tiers = [
        [t for t in others if t.run_id != anchor.run_id and (t.stage, t.role) ==
         (anchor.stage, anchor.role)],
        [t for t in others if role_side(t.role) != role_side(anchor.role) and t.kind == anchor.kind],
        [t for t in others if role_side(t.role) == role_side(anchor.role) and t.kind == anchor.kind
         and t.stage != anchor.stage],
        [t for t in others if t.run_id == anchor.run_id and (t.stage, t.role) ==
         (anchor.stage, anchor.role)],
    ]
    chosen: list[int] = []
    for tier in tiers:  # within a tier, the anchor's own run first
        for t in sorted(tier, key=lambda t: (t.run_id != anchor.run_id, t.id)):
            if len(chosen) < n and t.id not in chosen:
                chosen.append(t.id)
    return [anchor.id, *chosen]


# item fields that hold the problem, and the gold answer, in the shapes data sets use
_PROBLEM_KEYS = ("problem", "question", "prompt", "instruction", "text")
_GOLD_KEYS = ("answer", "solution", "reference", "output", "canonical_solution")


def item_problem(data: dict[str, Any]) -> tuple[str, str]:
    """(problem, gold answer) of an item's fields, '' where absent."""
    def first(keys: tuple[str, ...]) -> str:
        return next((str(data[k]) for k in keys if data.get(k) not in (None, "")), "")

    return first(_PROBLEM_KEYS), first(_GOLD_KEYS)


def item_text(store: Store, item_id: int | None) -> dict[str, Any]:
    """The item's fields (question, answer...), or {} when the trace has no item."""
    if item_id is None:
        return {}
    row = store.one("SELECT data FROM items WHERE id = ?", (item_id,))
    data = from_json(row[0]) if row else None
    return data if isinstance(data, dict) else {}


def neighbour_item(store: Store, item_id: int, direction: int, run_id: int | None = None) -> int | None:
    """The next (direction > 0) or previous item id that has traces (of ``run_id``)."""
    op, order = (">", "ASC") if direction > 0 else ("<", "DESC")
    sql = f"SELECT item_id FROM traces WHERE item_id {op} ?"
    params: list[Any] = [item_id]
    if run_id is not None:
        sql += " AND run_id = ?"
        params.append(run_id)
    row = store.one(sql + f" ORDER BY item_id {order} LIMIT 1", params)
    return int(row[0]) if row else None


# -- step-by-step comparison ---------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One trace's step in one row of a comparison (absent where the alignment has a gap)."""

    index: int
    kind: str
    text: str
    verdict: str
    metrics: dict[str, Any]
    diff: list[tuple[str, str]] | None  # word diff against the first column's step, if any
    step_id: int | None = None  # the stored step (None for a trace stored without steps)
    label: Label | None = None  # the latest human label, kept beside the teacher's verdict

    @property
    def disagrees(self) -> bool:
        """A human said correct where the teacher said wrong, or the other way round."""
        return (self.label is not None and self.label.label in ("correct", "wrong")
                and self.verdict in ("correct", "wrong") and self.label.label != self.verdict)


@dataclass(frozen=True)
class Comparison:
    """Two or three traces laid out in aligned rows; ``first_wrong`` is a row per trace."""

    traces: list[Trace]
    rows: list[list[Cell | None]]
    similarity: list[float]  # of each row's cells to the first column (0 where gap)
    first_wrong_row: list[int | None]
    metric_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    kinds: list[str] = field(default_factory=list)  # "code" or "text", per trace


def _merge(base: list[list[int | None]], pairs: list[Aligned], column: int) -> list[list[int | None]]:
    """Add a column to a multi-alignment, pairing on column 0 (the pivot trace)."""
    by_pivot = {a.left: a.right for a in pairs if a.left is not None and a.right is not None}
    # right-only steps go after the pivot step they follow in the pairwise alignment
    extra_after: dict[int | None, list[int]] = {}
    last_left: int | None = None
    for a in pairs:
        if a.left is not None:
            last_left = a.left
        elif a.right is not None:
            extra_after.setdefault(last_left, []).append(a.right)
    out: list[list[int | None]] = []

    def gap_row(j: int) -> list[int | None]:
        row: list[int | None] = [None] * (column + 1)
        row[column] = j
        return row

    out += [gap_row(j) for j in extra_after.get(None, [])]
    for row in base:
        pivot = row[0]
        out.append([*row, by_pivot.get(pivot) if pivot is not None else None])
        if pivot is not None:
            out += [gap_row(j) for j in extra_after.get(pivot, [])]
    return out


def align_many(step_texts: list[list[str]]) -> list[list[int | None]]:
    """Rows of step indexes (None = gap), aligning every list against the first one."""
    if not step_texts:
        return []
    rows: list[list[int | None]] = [[i] for i in range(len(step_texts[0]))]
    for column, texts in enumerate(step_texts[1:], start=1):
        rows = _merge(rows, align(step_texts[0], texts), column)
    return rows


def _column_steps(trace: Trace) -> list[tuple[str, str]]:
    """(kind, text) of each step; a trace stored without steps is split as text is (a
    fenced code block stays one step)."""
    if trace.steps:
        return [(s.kind, s.text) for s in trace.steps]
    return [(p.kind, p.text) for p in split_steps(trace.output or "")]


def trace_kind(trace: Trace) -> str:
    """"code" for a trace that holds a fenced code block (or code steps), else "text"."""
    has_code = "```" in (trace.output or "") or any(s.kind == "code" for s in trace.steps)
    return "code" if has_code else "text"


def compare_traces(store: Store, trace_ids: list[int], *, diff_any_kind: bool = False) -> Comparison:
    """Load 2-3 traces with their steps and align them step by step against the first.
    Word diffs are drawn only against a first trace of the same kind (prose or code), as
    a plan diffed against a program is noise; ``diff_any_kind`` draws them anyway."""
    return compare_loaded([get_trace(store, t) for t in trace_ids], diff_any_kind=diff_any_kind,
                          labels=trace_labels(store, trace_ids))


def compare_loaded(traces: list[Trace], *, diff_any_kind: bool = False,
                   labels: dict[int, Label] | None = None) -> Comparison:
    """``compare_traces`` on traces already in memory (e.g. answers still streaming in the
    playground, not stored yet); ``labels``: human step labels by step id."""
    labels = labels or {}
    columns = [_column_steps(t) for t in traces]
    texts = [[text for _, text in col] for col in columns]
    kinds = [trace_kind(t) for t in traces]
    grid = align_many(texts)
    rows: list[list[Cell | None]] = []
    similarity: list[float] = []
    ranges: dict[str, tuple[float, float]] = {}
    for index_row in grid:
        cells: list[Cell | None] = []
        pivot = index_row[0]
        for col, idx in enumerate(index_row):
            if idx is None:
                cells.append(None)
                continue
            step = traces[col].steps[idx] if traces[col].steps else None
            metrics = dict(step.metrics or {}) if step else {}
            for name, value in metrics.items():
                if isinstance(value, int | float):
                    low, high = ranges.get(name, (float(value), float(value)))
                    ranges[name] = (min(low, float(value)), max(high, float(value)))
            diff = (inline_diff(texts[0][pivot], texts[col][idx])
                    if col > 0 and pivot is not None and (diff_any_kind or kinds[col] == kinds[0])
                    else None)
            cells.append(Cell(index=idx, kind=columns[col][idx][0], text=texts[col][idx],
                              verdict=step.verdict if step else "unknown", metrics=metrics,
                              diff=diff, step_id=step.id if step else None,
                              label=labels.get(step.id) if step else None))
        rows.append(cells)
        others = [c for c in cells[1:] if c is not None]
        if pivot is not None and others:
            similarity.append(max(step_similarity(texts[0][pivot], c.text) for c in others))
        else:
            similarity.append(0.0)
    first_rows: list[int | None] = []
    for col, trace in enumerate(traces):
        wrong = first_wrong([s.verdict for s in trace.steps])
        first_rows.append(None if wrong is None else
                          next(r for r, g in enumerate(grid) if g[col] == wrong))
    return Comparison(traces, rows, similarity, first_rows, ranges, kinds)


def wrong_rows(c: Comparison) -> list[int]:
    """Rows where any column's step is judged wrong (for 'next wrong step')."""
    return [r for r, cells in enumerate(c.rows)
            if any(cell is not None and cell.verdict == "wrong" for cell in cells)]


# -- runs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Accuracy:
    stage: str
    passed: int
    n: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.passed / self.n if self.n else 0.0


@dataclass(frozen=True)
class RunSummary:
    """What Compare shows per run."""

    id: int
    name: str
    paradigm: str
    status: str
    seconds: float
    metrics: dict[str, float]
    accuracy: list[Accuracy]
    teacher_calls: int
    tokens_in: int  # paid
    tokens_out: int
    cost_usd: float
    tokens_used: int = 0  # paid + answers from the cache (see engine.store.calls)
    usd_used: float = 0.0

    @property
    def teacher_tokens(self) -> int:
        """Tokens paid for (what the run's own calls cost)."""
        return self.tokens_in + self.tokens_out


@dataclass(frozen=True)
class TeacherCost:
    """A run's teacher so far: rows it sent (paid; failed attempts included in ``calls``),
    and what it used (paid + answers taken from the cache, which cost it nothing)."""

    calls: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    answers_reused: int = 0
    tokens_used: int = 0
    usd_used: float = 0.0

    @property
    def tokens_paid(self) -> int:
        return self.tokens_in + self.tokens_out


def teacher_cost(store: Store, run_id: int) -> TeacherCost:
    """Teacher calls of a run so far, paid and used."""
    row = store.one("SELECT COUNT(*), SUM(tokens_in), SUM(tokens_out), SUM(cost_usd) "
                    "FROM teacher_calls WHERE run_id = ?", (run_id,))
    used = calls.accounting(store, run_id)
    if row is None:
        return TeacherCost(0, 0, 0, 0.0)
    return TeacherCost(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), float(row[3] or 0.0),
                       used.answers_reused, used.tokens_used, used.usd_used)


def accuracy(store: Store, run_id: int, confidence: float = 0.95) -> list[Accuracy]:
    """Pass rate of each evaluating stage with a Wilson interval."""
    rows = store.query("SELECT stage, COUNT(*), SUM(passed) FROM evaluations WHERE run_id = ? "
                       "AND passed IS NOT NULL GROUP BY stage ORDER BY MIN(id)", (run_id,))
    out = []
    for stage, n, ok in rows:
        low, high = wilson(int(ok or 0), int(n), confidence)
        out.append(Accuracy(str(stage), int(ok or 0), int(n), low, high))
    return out


def run_metrics(store: Store, run_id: int) -> dict[str, float]:
    """Each metric's value: its latest, or for ``cost/*`` the sum (engine.metric_table)."""
    return metric_table.values((str(r[0]), float(r[1])) for r in store.query(
        "SELECT name, value FROM metrics WHERE run_id = ? ORDER BY id", (run_id,)))


def run_summary(store: Store, run_id: int) -> RunSummary:
    run = runs.get_run(store, run_id)
    cost = teacher_cost(store, run_id)
    seconds = sum(s.seconds for s in runs.stages(store, run_id))
    return RunSummary(id=run.id, name=run.name, paradigm=run.paradigm, status=run.shown_status,
                      seconds=seconds, metrics=run_metrics(store, run_id),
                      accuracy=accuracy(store, run_id), teacher_calls=cost.calls,
                      tokens_in=cost.tokens_in, tokens_out=cost.tokens_out,
                      cost_usd=cost.cost_usd, tokens_used=cost.tokens_used,
                      usd_used=cost.usd_used)


_AT_K = re.compile(r"^(solve|pass)@(\d+)$")


def at_k(metrics: dict[str, float]) -> list[tuple[int, float]]:
    """solve@k (or pass@k when no solve@k) values of a run, sorted by k."""
    found: dict[str, list[tuple[int, float]]] = {}
    for name, value in metrics.items():
        m = _AT_K.match(name)
        if m:
            found.setdefault(m.group(1), []).append((int(m.group(2)), value))
    points = found.get("solve") or found.get("pass") or []
    return sorted(points)


@dataclass(frozen=True)
class ItemOutcome:
    item_hash: str
    label: str
    a: float  # pass rate of the item's samples in run a
    b: float


@dataclass(frozen=True)
class WinLoss:
    """Per-item comparison of two runs' evaluations (items matched by content hash)."""

    wins: int  # b better than a
    losses: int
    ties: int
    items: list[ItemOutcome]


def wins_losses(store: Store, run_a: int, run_b: int) -> WinLoss:
    """Items both runs evaluated: where run b passes more often than run a, and the reverse."""

    def rates(run_id: int) -> dict[str, tuple[float, str]]:
        rows = store.query(
            "SELECT i.item_hash, AVG(e.passed), i.data FROM evaluations e JOIN items i "
            "ON i.id = e.item_id WHERE e.run_id = ? AND e.passed IS NOT NULL "
            "GROUP BY i.item_hash", (run_id,))
        out = {}
        for h, rate, data in rows:
            fields = from_json(data) or {}
            label = str(fields.get("question") or fields.get("problem") or next(
                iter(fields.values()), ""))
            out[str(h)] = (float(rate), " ".join(label.split())[:120])
        return out

    ra, rb = rates(run_a), rates(run_b)
    items = [ItemOutcome(h, ra[h][1], ra[h][0], rb[h][0]) for h in ra if h in rb]
    wins = sum(1 for i in items if i.b > i.a)
    losses = sum(1 for i in items if i.b < i.a)
    items.sort(key=lambda i: (-(abs(i.b - i.a)), i.label))
    return WinLoss(wins, losses, len(items) - wins - losses, items)


@dataclass(frozen=True)
class StageState:
    name: str
    status: str
    done: int
    total: int
    seconds: float
    error: str | None


@dataclass(frozen=True)
class RunState:
    """A run as the monitor shows it when it is not (or no longer) streaming events."""

    id: int
    name: str
    paradigm: str
    status: str
    error: str | None
    stages: list[StageState]
    series: dict[str, list[tuple[int, float]]]
    cost: TeacherCost


def run_state(store: Store, run_id: int) -> RunState:
    """Stages, every metric series (x = step, or the order of arrival) and teacher cost."""
    run = runs.get_run(store, run_id)
    stages = [StageState(s.name, s.status, s.done, s.total, s.seconds, s.error)
              for s in runs.stages(store, run_id)]
    series: dict[str, list[tuple[int, float]]] = {}
    for name, step, value in store.query(
            "SELECT name, step, value FROM metrics WHERE run_id = ? ORDER BY id", (run_id,)):
        points = series.setdefault(str(name), [])
        points.append((int(step) if step is not None else len(points), float(value)))
    return RunState(run.id, run.name, run.paradigm, run.shown_status, run.error, stages,
                    series, teacher_cost(store, run_id))
