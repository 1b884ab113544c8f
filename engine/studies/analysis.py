"""A study's results, from the store: what `study show`, the report and the GUI read.

Per comparison (and per group of its ``by`` key): every arm's mean with its interval over
items and seeds; every compared pair's paired difference on the same (seed, item) pairs,
with its interval, p-value and the Holm-adjusted p-value over the comparison's pairs;
the arms' costs and the equal-budget check. Also the per-item correlations, which runs
reused which stages, and the per-item win/loss table of two arms. Only completed runs
count; an arm with unfinished runs is reported on the seeds it has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import median
from typing import NamedTuple

from engine.store import Store, studies
from engine.studies import costs, outcomes, stats
from engine.studies.outcomes import ItemValue
from engine.studies.spec import AXES, ComparisonSpec, CorrelationSpec, Study, study_model

Values = dict[int, dict[str, ItemValue]]  # seed -> item hash -> value
Loaded = dict[str, dict[str | None, Values]]  # arm -> group -> seed -> item hash -> value


@dataclass(frozen=True)
class RunRow:
    position: int
    arm: str
    seed: int
    run_id: int
    status: str
    reused: list[tuple[str, int]]  # (stage, run it was copied from)


@dataclass(frozen=True)
class ArmResult:
    arm: str
    estimate: stats.Interval
    seed_means: dict[int, float] = field(default_factory=dict)  # seed -> mean over its items


@dataclass(frozen=True)
class PairResult:
    a: str
    b: str  # the difference is b - a
    result: stats.PairedResult
    p_holm: float
    significant: bool  # p_holm below 1 - confidence


@dataclass(frozen=True)
class BudgetRow:
    arm: str
    value: float
    ratio: float  # to the median arm
    ok: bool


@dataclass(frozen=True)
class ComparisonResult:
    index: int
    spec: ComparisonSpec
    group: str | None  # the value of the comparison's `by` key, if it has one
    arms: list[ArmResult]
    pairs: list[PairResult]
    budget: list[BudgetRow] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.spec.label + (f" · {self.spec.by} {self.group}" if self.group else "")


@dataclass(frozen=True)
class CorrelationResult:
    spec: CorrelationSpec
    arm: str
    corr: stats.Correlation


@dataclass(frozen=True)
class StudyAnalysis:
    study_id: int
    name: str
    status: str
    error: str | None
    study: Study
    runs: list[RunRow]
    costs: dict[str, dict[str, stats.Interval]]  # arm -> axis -> mean over seeds
    run_costs: dict[int, dict[str, float]]  # run id -> axis -> value (completed runs)
    comparisons: list[ComparisonResult]
    correlations: list[CorrelationResult]
    completed_stages: int  # over all the study's runs, reused ones included
    # arm -> stage -> wall seconds (mean over seeds; a reused stage counts its computing run)
    stage_seconds: dict[str, dict[str, stats.Interval]] = field(default_factory=dict)
    values: dict[int, Loaded] = field(default_factory=dict)  # comparison index -> per item

    @property
    def arms(self) -> list[str]:
        return [a.name for a in self.study.arms]

    def seed_costs(self, arm: str, axis: str) -> dict[int, float]:
        """seed -> the arm's run's cost on an axis (completed runs)."""
        return {r.seed: self.run_costs[r.run_id][axis] for r in self.runs
                if r.arm == arm and r.run_id in self.run_costs}

    def reuse_counts(self) -> tuple[int, int]:
        """(stages computed, stages reused) over the study's completed stages."""
        reused = sum(len(r.reused) for r in self.runs)
        return self.completed_stages - reused, reused


def _run_rows(store: Store, study_id: int) -> list[RunRow]:
    reused: dict[int, list[tuple[str, int]]] = {}
    for run_id, name, source in store.query(
            "SELECT s.run_id, s.name, s.reused_from FROM stages s JOIN study_runs r ON "
            "r.run_id = s.run_id WHERE r.study_id = ? AND s.reused_from IS NOT NULL "
            "ORDER BY s.run_id, s.position", (study_id,)):
        reused.setdefault(int(run_id), []).append((str(name), int(source)))
    return [RunRow(r.position, r.arm, r.seed, r.run_id, r.status, reused.get(r.run_id, []))
            for r in studies.study_runs(store, study_id)]


def _completed(rows: list[RunRow]) -> dict[str, dict[int, int]]:
    out: dict[str, dict[int, int]] = {}
    for r in rows:
        if r.status == "completed":
            out.setdefault(r.arm, {})[r.seed] = r.run_id
    return out


def _group_order(key: str | None) -> tuple[int, float, str]:
    if key is None:
        return (0, 0.0, "")
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


def _load(store: Store, comp: ComparisonSpec, done: dict[str, dict[int, int]]) -> Loaded:
    run_ids = [r for by_seed in done.values() for r in by_seed.values()]
    found = outcomes.item_values(store, run_ids, comp.metric, comp.stage, comp.by)
    data: Loaded = {}
    for arm, by_seed in done.items():
        for seed, run_id in by_seed.items():
            for group, values in found.get(run_id, {}).items():
                data.setdefault(arm, {}).setdefault(group, {})[seed] = values
    return data


def _item_comparisons(study: Study, index: int, comp: ComparisonSpec,
                      data: Loaded) -> list[ComparisonResult]:
    groups = sorted({g for per in data.values() for g in per}, key=_group_order) or [None]
    results = []
    for group in groups:
        arms = []
        for i, arm in enumerate(study.arms):
            per_seed = data.get(arm.name, {}).get(group, {})
            series = [[v.value for v in per_seed[s].values()] for s in sorted(per_seed)]
            means = {s: sum(x) / len(x) for s, x in zip(sorted(per_seed), series, strict=True)
                     if x}
            arms.append(ArmResult(arm.name, stats.arm_interval(
                series, comp.confidence, study.resamples, seed=1000 * index + i), means))
        tested = []
        for j, (a, b) in enumerate(study.pairs_of(comp)):
            ga, gb = _paired(data, a, b, group)
            tested.append((a, b, stats.paired_test(ga, gb, comp.confidence, study.resamples,
                                                   seed=1000 * index + j)))
        results.append(ComparisonResult(index, comp, group, arms, _holm(tested, comp)))
    return results


def _paired(data: Loaded, a: str, b: str,
            group: str | None) -> tuple[list[list[float]], list[list[float]]]:
    """The two arms' values on the (seed, item) pairs both have, seed by seed."""
    va, vb = data.get(a, {}).get(group, {}), data.get(b, {}).get(group, {})
    ga, gb = [], []
    for seed in sorted(set(va) & set(vb)):
        common = sorted(set(va[seed]) & set(vb[seed]))
        ga.append([va[seed][h].value for h in common])
        gb.append([vb[seed][h].value for h in common])
    return ga, gb


def _holm(tested: list[tuple[str, str, stats.PairedResult]],
          comp: ComparisonSpec) -> list[PairResult]:
    finite = [t[2].p if not math.isnan(t[2].p) else 1.0 for t in tested]
    adjusted = stats.holm(finite)
    alpha = 1 - comp.confidence
    return [PairResult(a, b, r, p, p < alpha and r.diff.n > 0)
            for (a, b, r), p in zip(tested, adjusted, strict=True)]


def _run_level(store: Store, study: Study, index: int, comp: ComparisonSpec,
               done: dict[str, dict[int, int]]) -> ComparisonResult:
    name = comp.metric.removeprefix("metric:")
    values: dict[str, dict[int, float]] = {}
    for arm, by_seed in done.items():
        for seed, run_id in by_seed.items():
            v = outcomes.run_metric(store, run_id, name)
            if v is not None:
                values.setdefault(arm, {})[seed] = v
    arms = [ArmResult(a.name, stats.seed_interval(list(values.get(a.name, {}).values()),
                                                  comp.confidence), values.get(a.name, {}))
            for a in study.arms]
    tested = []
    for a, b in study.pairs_of(comp):
        seeds = sorted(set(values.get(a, {})) & set(values.get(b, {})))
        tested.append((a, b, stats.paired_seed_test([values[a][s] for s in seeds],
                                                    [values[b][s] for s in seeds],
                                                    comp.confidence)))
    return ComparisonResult(index, comp, None, arms, _holm(tested, comp))


def _budget(comp: ComparisonSpec, arm_costs: dict[str, dict[str, stats.Interval]],
            arms: list[str]) -> list[BudgetRow]:
    if comp.equal_budget is None:
        return []
    axis, tolerance = comp.equal_budget.axis, comp.equal_budget.tolerance
    values = {a: arm_costs[a][axis].mean for a in arms
              if a in arm_costs and not math.isnan(arm_costs[a][axis].mean)}
    if not values:
        return []
    mid = median(values.values())
    rows = []
    for arm, value in values.items():
        ratio = value / mid if mid else (1.0 if value == 0 else math.inf)
        rows.append(BudgetRow(arm, value, ratio, abs(ratio - 1) <= tolerance))
    return rows


def analyse(store: Store, study_id: int) -> StudyAnalysis:
    """Everything a study's report shows, computed from the store."""
    record = studies.get_study(store, study_id)
    study = study_model(record.spec_yaml)
    rows = _run_rows(store, study_id)
    done = _completed(rows)
    completed = [r.run_id for r in rows if r.status == "completed"]
    per_run = costs.costs_of(store, completed)
    seconds = costs.stage_seconds(store, completed)
    by_stage: dict[str, dict[str, stats.Interval]] = {}
    for arm_spec in study.arms:
        per_stage: dict[str, list[float]] = {}
        for run_id in done.get(arm_spec.name, {}).values():
            for stage, value in seconds.get(run_id, {}).items():
                per_stage.setdefault(stage, []).append(value)
        by_stage[arm_spec.name] = {st: stats.seed_interval(v) for st, v in per_stage.items()}
    arm_costs = {arm.name: {axis: stats.seed_interval(
        [per_run[run_id][axis] for run_id in done.get(arm.name, {}).values()])
        for axis in AXES} for arm in study.arms}
    results: list[ComparisonResult] = []
    loaded: dict[int, Loaded] = {}
    for index, comp in enumerate(study.comparisons):
        if comp.metric.startswith("metric:"):
            found = [_run_level(store, study, index, comp, done)]
        else:
            loaded[index] = _load(store, comp, done)
            found = _item_comparisons(study, index, comp, loaded[index])
        budget = _budget(comp, arm_costs, [a.name for a in study.arms])
        results += [ComparisonResult(r.index, r.spec, r.group, r.arms, r.pairs, budget)
                    for r in found]
    correlations = []
    for corr in study.correlations:
        for arm in corr.arms or [a.name for a in study.arms]:
            xs: list[float] = []
            ys: list[float] = []
            for run_id in done.get(arm, {}).values():
                x = outcomes.measure(store, run_id, corr.x.source, corr.x.stage, corr.x.field,
                                     corr.x.role)
                y = outcomes.measure(store, run_id, corr.y.source, corr.y.stage, corr.y.field,
                                     corr.y.role)
                common = sorted(set(x) & set(y))
                xs += [x[h] for h in common]
                ys += [y[h] for h in common]
            correlations.append(CorrelationResult(corr, arm, stats.correlation(
                xs, ys, corr.method, resamples=study.resamples)))
    completed_stages = int((store.one(
        "SELECT COUNT(*) FROM stages s JOIN study_runs r ON r.run_id = s.run_id "
        "WHERE r.study_id = ? AND s.status = 'completed'", (study_id,)) or [0])[0])
    return StudyAnalysis(study_id, record.name, record.shown_status, record.error, study, rows,
                         arm_costs, per_run, results, correlations, completed_stages, by_stage,
                         loaded)


class MatrixRow(NamedTuple):
    """One (seed, item) of two arms: their values and the traces their evaluations judged."""

    seed: int
    item_hash: str
    item_id: int
    label: str
    a: float
    b: float
    trace_a: int | None
    trace_b: int | None

    @property
    def outcome(self) -> str:
        return "win" if self.b > self.a else "loss" if self.b < self.a else "tie"


def win_loss(store: Store, a: StudyAnalysis, comparison: ComparisonResult, arm_a: str,
             arm_b: str) -> list[MatrixRow]:
    """Per (seed, item): arm a against arm b on a comparison's metric (b wins when higher),
    from the values the analysis loaded; only the item labels are read from the store."""
    data = a.values.get(comparison.index, {})
    va = data.get(arm_a, {}).get(comparison.group, {})
    vb = data.get(arm_b, {}).get(comparison.group, {})
    out = []
    for seed in sorted(set(va) & set(vb)):
        ia, ib = va[seed], vb[seed]
        for h in sorted(set(ia) & set(ib), key=lambda h: ia[h].item_id):
            out.append((seed, ia[h], ib[h]))
    labels = outcomes.item_labels(store, sorted({x.item_id for _, x, _ in out}))
    return [MatrixRow(seed, x.item_hash, x.item_id, labels.get(x.item_id, ""), x.value, y.value,
                      x.trace_id, y.trace_id) for seed, x, y in out]
