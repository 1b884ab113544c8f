"""The `smoke` paradigm: exercises store, runner, resume and events end to end without models.

Stage `echo` stores each item's worked solution as a trace, one step per line; `check`
verifies each solution's last number against the gold answer into `evaluations`;
`summary` records accuracy with a Wilson interval. `delay_s` slows each unit down so
a test (or a person) can kill the run in the middle of a stage; `check.noise` flips a
share of the verdicts (chosen by item and seed), a stand-in for a noisy verifier that gives
a study on this paradigm arms that differ. With no model, `echo` records the words of
each stored text as `cost/student_gen_tokens` so a study's cost axes have something to show.
"""

from __future__ import annotations

import hashlib
import re
import time

from pydantic import BaseModel, ConfigDict, Field

from engine.metrics import wilson
from engine.paradigms import Paradigm, StageSpec
from engine.stage import StageContext
from engine.store import StepIn, traces


class EchoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text_field: str = Field("solution", description="Item field holding the worked solution.")
    delay_s: float = Field(0.0, ge=0, le=60, description="Seconds to wait per item (testing).")


class CheckParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer_field: str = Field("answer", description="Item field holding the gold answer.")
    noise: float = Field(0.0, ge=0, le=1, description="Share of verdicts flipped, chosen by "
                         "the item and the seed (a noisy verifier, for studies).")
    delay_s: float = Field(0.0, ge=0, le=60, description="Seconds to wait per item (testing).")


class SummaryParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confidence: float = Field(0.95, gt=0, lt=1, description="Confidence level of the interval.")


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def echo(ctx: StageContext) -> None:
    params = ctx.params
    assert isinstance(params, EchoParams)
    for unit in ctx.pending(ctx.items(), key=lambda item: item.item_hash):
        item = unit.value
        text = str(item.data.get(params.text_field, ""))
        time.sleep(params.delay_s)
        steps = [StepIn(line.strip()) for line in text.splitlines() if line.strip()]
        with ctx.commit(unit):
            ctx.trace(role="reference", item_id=item.id, output=text, model="dataset",
                      steps=steps)
            ctx.metric("cost/student_gen_tokens", float(len(text.split())))


def _flipped(item_hash: str, seed: int, noise: float) -> bool:
    """Whether the noisy verifier flips this item's verdict (same item and seed: same answer)."""
    digest = hashlib.sha256(f"{seed}:{item_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < noise


def check(ctx: StageContext) -> None:
    params = ctx.params
    assert isinstance(params, CheckParams)
    by_item = {t.item_id: t for t in traces.page_traces(ctx.store, run_id=ctx.run_id,
                                                        stage="echo", limit=1_000_000)}
    for unit in ctx.pending(ctx.items(), key=lambda item: item.item_hash):
        item = unit.value
        trace = by_item.get(item.id)
        numbers = _NUMBER.findall(trace.output or "") if trace else []
        predicted = numbers[-1] if numbers else None
        gold = str(item.data.get(params.answer_field, "")).strip()
        passed = predicted is not None and float(predicted) == float(gold)
        if _flipped(item.item_hash, ctx.recipe.seed, params.noise):
            passed = not passed
        time.sleep(params.delay_s)
        with ctx.commit(unit):
            traces.add_evaluation(ctx.store, run_id=ctx.run_id, stage=ctx.stage,
                                  item_id=item.id, passed=passed,
                                  trace_id=trace.id if trace else None,
                                  details={"predicted": predicted, "gold": gold})


def summary(ctx: StageContext) -> None:
    params = ctx.params
    assert isinstance(params, SummaryParams)
    rows = traces.evaluations(ctx.store, ctx.run_id, "check")
    n = len(rows)
    passed = sum(1 for r in rows if r["passed"])
    low, high = wilson(passed, n, params.confidence)
    ctx.metric("accuracy", passed / n if n else 0.0)
    ctx.metric("accuracy_ci_low", low)
    ctx.metric("accuracy_ci_high", high)
    ctx.log(f"accuracy {passed}/{n} (Wilson {params.confidence:.0%} CI {low:.3f}-{high:.3f})")


PARADIGM = Paradigm(
    name="smoke",
    title="Smoke test",
    paper="(none: checks the pipeline without models)",
    description="Stores each worked solution as a stepped trace, checks its answer, "
                "reports accuracy. No models: runs in seconds.",
    default_recipe="smoke.yaml",
    stages=(
        StageSpec("echo", echo, EchoParams, "Store each solution as a trace, one step a line.",
                  reads=("dataset",)),
        StageSpec("check", check, CheckParams, "Check each solution's last number.",
                  reads=("dataset", "seed")),
        StageSpec("summary", summary, SummaryParams, "Accuracy with a Wilson interval.",
                  reads=()),
    ),
)
