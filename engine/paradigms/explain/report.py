"""solve@k, the M x T grid and the cost/curve data of an explain run, from the store.

Every program's result is in ``evaluations`` and its plan/code indexes in the coder trace,
so all of this is recomputed from the database: a resumed run reports the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.metrics import bootstrap_ci, pass_at_k
from engine.store import Store, from_json


@dataclass(frozen=True)
class Summary:
    metrics: list[tuple[str, float, int | None]]
    text: str


def _results(store: Store, run_id: int, item_ids: list[int]) -> dict[int, dict[tuple[int, int], bool]]:
    """item -> {(plan index, code index): passed}."""
    rows = store.query(
        "SELECT e.item_id, e.passed, t.parsed FROM evaluations e JOIN traces t ON e.trace_id = t.id "
        "WHERE e.run_id = ? AND e.stage = 'evaluate'", (run_id,))
    out: dict[int, dict[tuple[int, int], bool]] = {i: {} for i in item_ids}
    for row in rows:
        parsed = from_json(row["parsed"]) or {}
        key = (int(parsed.get("plan_index", 0)), int(parsed.get("code_index", 0)))
        out.setdefault(row["item_id"], {})[key] = bool(row["passed"])
    return out


def grid_and_curves(store: Store, run_id: int, item_ids: list[int], ks: list[int],
                    budget: int) -> Summary:
    results = _results(store, run_id, item_ids)
    metrics: list[tuple[str, float, int | None]] = []
    lines = []
    per_item = [(len(r), sum(r.values())) for r in results.values() if r]
    if not per_item:
        return Summary([], "no programs were evaluated")
    n = min(ni for ni, _ in per_item)
    for k in [k for k in ks if k <= n]:
        values = [pass_at_k(ni, gi, k) for ni, gi in per_item]
        mean = sum(values) / len(values)
        lo, hi = bootstrap_ci(values)
        metrics += [(f"solve@{k}", mean, None), (f"solve@{k}_ci_low", lo, None),
                    (f"solve@{k}_ci_high", hi, None)]
        lines.append(f"solve@{k} = {mean:.3f} (95% CI {lo:.3f}-{hi:.3f}, {len(values)} items, "
                     f"n={n})")
    for k in range(1, n + 1):  # the curve against samples
        mean = sum(pass_at_k(ni, gi, k) for ni, gi in per_item) / len(per_item)
        metrics.append(("curve/solve_vs_samples", mean, k))
    plans = 1 + max(p for r in results.values() for p, _ in r)
    codes = 1 + max(c for r in results.values() for _, c in r)
    for m in range(1, plans + 1):
        if budget % m or budget // m > codes:
            continue
        t = budget // m
        sub = [[ok for (pi, ci), ok in r.items() if pi < m and ci < t] for r in results.values()]
        sub = [s for s in sub if len(s) == m * t]
        if not sub:
            continue
        for k in [k for k in ks if k <= m * t]:
            mean = sum(pass_at_k(len(s), sum(s), k) for s in sub) / len(sub)
            metrics.append((f"grid/{m}x{t}/solve@{k}", mean, None))
        lines.append(f"grid M={m} x T={t}: " + ", ".join(
            f"solve@{k} {v:.3f}" for name, v, _ in metrics if name.startswith(f"grid/{m}x{t}/")
            for k in [name.rsplit('@', 1)[1]]))
    cost = store.query("SELECT stage, SUM(COALESCE(tokens_in,0) + COALESCE(tokens_out,0)), "
                       "SUM(COALESCE(cost_usd,0)), COUNT(*) FROM teacher_calls WHERE run_id = ? "
                       "GROUP BY stage", (run_id,))
    total_tokens = sum(int(r[1] or 0) for r in cost)
    total_usd = sum(float(r[2] or 0) for r in cost)
    for r in cost:
        metrics.append((f"teacher_tokens/{r[0]}", float(r[1] or 0), None))
    metrics += [("teacher_tokens", float(total_tokens), None), ("teacher_usd", total_usd, None),
                ("programs_per_item", float(n), None)]
    lines.append(f"teacher: {total_tokens} tokens, ${total_usd:.4f}; "
                 f"{n} programs per item ({plans} plans x {codes} codes)")
    return Summary(metrics, "\n".join(lines))
