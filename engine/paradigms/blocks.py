"""Building blocks every paradigm's stages share: one place, so paradigm packages stay small.

- typed stage parameters (``params_of``), the evaluation items (``eval_items``), a stage's
  stored traces (``stage_traces``) and the adapter a training stage registered
  (``trained_adapter``);
- teacher calls in committed chunks that stop cleanly on the budget (``ask_all``,
  ``ask_units``; the one place a stage's many independent calls go, so ``teacher.batch``
  sends them as one batch job);
- student sampling with verification by a task kind, with the generated tokens counted as
  the cost axis ``cost/student_gen_tokens`` (``sample_verified``);
- SFT / DPO training from rows with the stage's events, checkpoints and artifact
  (``train_stage``), and SFT on a split's rows validated on the validation split's
  (``sft_on_splits``);
- accuracy with a Wilson interval as metrics and a log line (``report_accuracy``), and the
  whole "evaluate the student on the evaluation split" stage body (``evaluate_student``).

Knows nothing of any particular paradigm. Heavy libraries are imported inside functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from engine.errors import DistillabError
from engine.metrics import Estimate, accuracy
from engine.recipes import TrainingSpec
from engine.stage import StageContext, Unit
from engine.store import StepIn, runs, traces
from engine.store.items import Item

if TYPE_CHECKING:
    from engine.teacher import Request, Result

P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")
Messages = list[dict[str, str]]


# -- parameters, items, traces, artifacts ----------------------------------------------------


def params_of(ctx: StageContext, kind: type[P]) -> P:
    """The stage's parameters, checked to be of the stage's model."""
    assert isinstance(ctx.params, kind), f"{ctx.stage}: params are {type(ctx.params)}"
    return ctx.params


def stage_params(ctx: StageContext, stage: str, kind: type[P]) -> P:
    """Another stage's parameters of this recipe (e.g. the train stage's prompt template);
    of a later stage only the fields the reading stage declares in ``reads_params``."""
    assert isinstance(ctx.loaded.stage_params[stage], kind), f"{stage}: not a {kind}"
    params: P = ctx.params_of_stage(stage)
    return params


def chunks(values: Sequence[T], size: int) -> list[list[T]]:
    return [list(values[i:i + size]) for i in range(0, len(values), max(1, size))]


def eval_items(ctx: StageContext) -> list[Item]:
    """The items the recipe evaluates on (``evaluation.split``, at most ``evaluation.limit``)."""
    chosen = ctx.items(ctx.recipe.evaluation.split)
    limit = ctx.recipe.evaluation.limit
    return chosen[:limit] if limit else chosen


def stage_traces(ctx: StageContext, stage: str, role: str | None = None) -> list[traces.Trace]:
    """Every trace a stage of this run stored (with a role: only those), without steps."""
    return traces.page_traces(ctx.store, run_id=ctx.run_id, stage=stage, role=role,
                              limit=10_000_000)


def trained_adapter(ctx: StageContext, stage: str | None = None) -> Path | None:
    """The newest adapter a training stage of this run registered (``stage``: from that
    stage only); None when the recipe trained nothing."""
    found = [a for a in runs.artifacts(ctx.store, ctx.run_id) if a["kind"] == "adapter"
             and (stage is None or (a.get("meta") or {}).get("stage") == stage)]
    return Path(found[-1]["path"]) if found else None


# -- teacher ---------------------------------------------------------------------------------


def ask_all(teacher: Any, requests: list[Request]) -> tuple[list[Result | None], Exception | None]:
    """All results, or on a budget stop the ones that finished (None for the rest) and the
    stop to re-raise once the finished units are committed."""
    from engine.teacher import BudgetExhausted

    try:
        return list(teacher.chat_many(requests)), None
    except BudgetExhausted as stop:
        return list(stop.results), stop


def ask_units(ctx: StageContext, units: Sequence[Unit[T]],
              requests_for: Callable[[T], list[Request]],
              store: Callable[[Unit[T], list[Result]], None], *, batch: int | None = None) -> int:
    """Send each pending unit's teacher requests, ``batch`` units at a time, and hand each
    unit whose answers all came back to ``store`` (which commits it with ``ctx.commit``).

    On a budget stop the units already answered are stored first, then the stop is
    re-raised, so the run ends ``stopped`` with nothing paid for lost. With
    ``teacher.batch: true`` every pending unit's requests first go out as one batch job at
    half price (engine/teacher/batch.py), whose answers land in the cache, so this loop then
    sends only what the batch did not answer. Returns the number of requests asked.
    """
    if not units:
        return 0
    from engine.teacher import open_teacher

    sent = 0
    with open_teacher(ctx.recipe.teacher, store=ctx.store, run_id=ctx.run_id,
                      stage=ctx.stage) as teacher:
        if ctx.recipe.teacher.batch:  # one batch job first: the loop below finds the cache full
            teacher.prefetch_batch([r for unit in units for r in requests_for(unit.value)],
                                   should_stop=ctx.cancel_requested, log=ctx.log)
        for chunk in chunks(units, batch or ctx.recipe.teacher.concurrency):
            requests: list[Request] = []
            spans: list[tuple[int, int]] = []
            for unit in chunk:
                start = len(requests)
                requests += requests_for(unit.value)
                spans.append((start, len(requests)))
            results, stop = ask_all(teacher, requests)
            sent += len(requests)
            for unit, (a, b) in zip(chunk, spans, strict=True):
                got = results[a:b]
                if all(r is not None for r in got):
                    store(unit, [r for r in got if r is not None])
            if stop is not None:
                raise stop
    return sent


def teacher_text(result: Result) -> str:
    """The first completion's text, or '' when the call failed."""
    return result.completions[0].text if not result.error and result.completions else ""


def usage(results: Sequence[Result]) -> dict[str, Any]:
    """The trace columns for what a list of teacher calls cost."""
    return {"tokens_in": sum(r.tokens_in for r in results),
            "tokens_out": sum(r.tokens_out for r in results),
            "latency_s": sum(r.latency_s for r in results),
            "cost_usd": sum(r.cost_usd for r in results)}


# -- student: sample and verify --------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """One student sample and its verdict against the item's gold answer."""

    text: str
    tokens: int
    finish_reason: str
    passed: bool
    predicted: str | None
    details: dict[str, Any]


def load_for_inference(ctx: StageContext, adapter: Path | None) -> tuple[Any, Any]:
    """The student (with ``adapter`` when given) in eval mode."""
    from engine.student import load_student

    return load_student(ctx.recipe.student, for_training=False, adapter=adapter)


def sample_verified(ctx: StageContext, model: Any, tokenizer: Any, items: Sequence[Item],
                    prompts: Sequence[Messages], *, task: str, k: int, temperature: float,
                    max_new_tokens: int, top_p: float = 1.0, batch_size: int = 8,
                    stop: Sequence[str] = (), seed: int = 0,
                    answer_of: Callable[[str], str] | None = None) -> list[list[Checked]]:
    """k student samples per item, each verified by the task kind against the item's
    fields (``answer_of``: verify what it reads out of each sample, e.g. the text of an
    ``<Answer>`` tag, instead of the whole sample); records the generated tokens as
    ``cost/student_gen_tokens``."""
    from engine.student import sample
    from engine.tasks import get_task

    checker = get_task(task)
    outs = sample(model, tokenizer, list(prompts), k=k, temperature=temperature, top_p=top_p,
                  max_new_tokens=max_new_tokens, stop=stop, seed=seed, batch_size=batch_size)
    result: list[list[Checked]] = []
    generated = 0
    for item, samples in zip(items, outs, strict=True):
        verdicts = checker.verify_many([answer_of(s.text) if answer_of else s.text
                                        for s in samples], [item.data] * len(samples))
        result.append([Checked(s.text, s.tokens, s.finish_reason, v.passed, v.predicted,
                               v.as_details()) for s, v in zip(samples, verdicts, strict=True)])
        generated += sum(s.tokens for s in samples)
    ctx.metric("cost/student_gen_tokens", float(generated))
    return result


def store_checked(ctx: StageContext, item: Item, checked: Checked, *, role: str,
                  prompt: str | None, sample_index: int = 0, steps: Sequence[StepIn] = (),
                  parent_id: int | None = None, parsed: Any = None,
                  evaluate: bool = True) -> int:
    """A verified sample as a trace (verdict passed/failed), and its ``evaluations`` row
    when ``evaluate``; call inside ``ctx.commit``. Returns the trace id."""
    trace_id = ctx.trace(role=role, item_id=item.id, model=ctx.recipe.student.model,
                         prompt=prompt, output=checked.text, sample_index=sample_index,
                         tokens_out=checked.tokens, parent_id=parent_id,
                         verdict="passed" if checked.passed else "failed",
                         score=float(checked.passed), steps=list(steps),
                         parsed={"predicted": checked.predicted, **(parsed or {})})
    if evaluate:
        traces.add_evaluation(ctx.store, run_id=ctx.run_id, stage=ctx.stage, item_id=item.id,
                              trace_id=trace_id, sample_index=sample_index,
                              passed=checked.passed, details=checked.details)
    return trace_id


# -- training --------------------------------------------------------------------------------


def _train_event(ctx: StageContext, prefix: str, name: str, value: float, step: int) -> None:
    if name == "progress":
        ctx.progress(step, int(value), "training steps")
    else:
        ctx.metric(f"{prefix}/{name}", value, step)


def _probe_callbacks(ctx: StageContext, rows: list[dict[str, Any]], spec: TrainingSpec,
                     prefix: str) -> list[Any]:
    """The cockpit's probe (engine.probe) as a Trainer callback; none when N is 0 or there
    are no validation rows."""
    if not rows:
        if spec.probe_items:
            ctx.log("training.probe_items is set but this stage has no validation rows: "
                    "no probe")
        return []
    from engine.probe import decode_probe
    from engine.student.trainers import ProbeCallback

    def probe(step: int, folder: str | None, model: Any, tokenizer: Any) -> None:
        stored = decode_probe(ctx.store, run_id=ctx.run_id, stage=ctx.stage, rows=rows,
                              model=model, tokenizer=tokenizer, step=step,
                              checkpoint=Path(folder) if folder else None,
                              max_new_tokens=spec.probe_max_new_tokens)
        if stored:
            row = ctx.store.one(
                "SELECT COUNT(*) FROM traces WHERE run_id = ? AND stage = ? AND role = 'probe' "
                "AND verdict = 'passed' AND json_extract(parsed, '$.checkpoint') = ?",
                (ctx.run_id, ctx.stage, step))
            passed = int(row[0]) if row is not None else 0
            ctx.metric(f"{prefix}/probe_accuracy", passed / stored, step)
            ctx.log(f"probe at step {step}: {passed}/{stored} answers match the reference")

    return [ProbeCallback(probe)]


def train_stage(ctx: StageContext, rows: list[dict[str, Any]], *,
                eval_rows: list[dict[str, Any]] | None = None, kind: str = "sft",
                folder: str | None = None, init_adapter: Path | None = None,
                beta: float = 0.1, metric_prefix: str = "train",
                meta: dict[str, Any] | None = None, step: int | None = None,
                training: TrainingSpec | None = None, continuation: bool = False) -> Path:
    """Train the student on rows (SFT: prompt/completion[/weight]; DPO: prompt/chosen/
    rejected) into ``<run files>/<folder>``, resuming from its checkpoints, with loss, lr and
    progress as the stage's events; register the adapter as an artifact and record the
    trained tokens as ``cost/train_tokens`` (once per ``step``: a stage that trains several
    times, e.g. once a round, passes the round). ``training`` replaces the recipe's training
    section (a stage with its own learning rate or epochs, e.g. DPO after SFT); DPO with
    ``continuation``: the answers continue a text (one step inside a solution), so no
    end-of-text token follows them. Returns the adapter folder."""
    from engine.cluster import exporting_to, write_training_bundle

    out_dir = ctx.files / (folder or ctx.stage)
    spec = training or ctx.recipe.training
    bundle = exporting_to()
    if bundle is not None:  # `distillab export N --what training`: the rows, not the training
        write_training_bundle(bundle, kind=kind, rows=rows, eval_rows=eval_rows or [],
                              student=ctx.recipe.student, training=spec, seed=ctx.recipe.seed,
                              beta=beta, continuation=continuation, init_adapter=init_adapter,
                              accelerate_config=_accelerate_config(ctx, spec))

    def on_event(name: str, value: float, step: int) -> None:
        _train_event(ctx, metric_prefix, name, value, step)

    if spec.launcher == "accelerate":
        from engine.student.launch import train_launched

        if spec.probe_items:
            ctx.log("training.probe_items: the probe runs only with launcher: local")
        result = train_launched(
            kind, rows, student=ctx.recipe.student, training=spec, out_dir=out_dir,
            config=_accelerate_config(ctx, spec), eval_rows=eval_rows or None,
            on_event=on_event, should_stop=ctx.cancel_requested, on_log=ctx.log,
            seed=ctx.recipe.seed, beta=beta, continuation=continuation,
            init_adapter=init_adapter)
    else:
        from engine.student import train_dpo, train_sft

        common: dict[str, Any] = dict(
            student=ctx.recipe.student, training=spec, out_dir=out_dir,
            eval_rows=eval_rows or None, should_stop=ctx.cancel_requested, on_log=ctx.log,
            seed=ctx.recipe.seed, init_adapter=init_adapter,
            callbacks=_probe_callbacks(ctx, (eval_rows or [])[:spec.probe_items], spec,
                                       metric_prefix) if kind == "sft" else [],
            on_event=on_event)
        result = (train_dpo(rows, beta=beta, continuation=continuation, **common)
                  if kind == "dpo" else train_sft(rows, **common))
    tokens = result.metrics.get("num_tokens")
    seen = ctx.store.one("SELECT 1 FROM metrics WHERE run_id = ? AND stage = ? AND name = ? "
                         "AND step IS ?", (ctx.run_id, ctx.stage, "cost/train_tokens", step))
    if tokens is not None and seen is None:  # a resumed stage finds the result on disk
        ctx.metric("cost/train_tokens", float(tokens), step)
    runs.add_artifact(ctx.store, ctx.run_id, "adapter", result.adapter_dir,
                      {"stage": ctx.stage, "examples": len(rows), "kind": kind, **(meta or {})})
    return result.adapter_dir


def _accelerate_config(ctx: StageContext, spec: TrainingSpec) -> Path | None:
    """``training.accelerate_config`` as a path (relative ones from the recipe's folder)."""
    if spec.accelerate_config is None:
        return None
    path = Path(spec.accelerate_config).expanduser()
    if not path.is_absolute() and ctx.loaded.base_dir is not None:
        path = ctx.loaded.base_dir / path
    return path


def sft_on_splits(ctx: StageContext, rows_for: Callable[[str], list[dict[str, Any]]], *,
                  what: str, empty: DistillabError, limit: int | None = None) -> Path:
    """SFT on ``rows_for("train")`` (at most ``limit``), validating on
    ``rows_for("validation")``; ``empty`` is raised when there is nothing to train on."""
    rows = rows_for("train")
    rows = rows[:limit] if limit else rows
    if not rows:
        raise empty
    eval_rows = rows_for("validation")
    ctx.log(f"training the student on {len(rows)} {what}"
            f"{f', validating on {len(eval_rows)}' if eval_rows else ''}")
    return train_stage(ctx, rows, eval_rows=eval_rows)


# -- accuracy --------------------------------------------------------------------------------


def report_accuracy(ctx: StageContext, passed: Sequence[bool], name: str = "accuracy",
                    what: str = "") -> Estimate:
    """Accuracy with its 95% Wilson interval as metrics (name, name_ci_low, name_ci_high,
    name_n) and one log line."""
    est = accuracy(list(passed))
    ctx.metric(name, est.mean)
    ctx.metric(f"{name}_ci_low", est.low)
    ctx.metric(f"{name}_ci_high", est.high)
    ctx.metric(f"{name}_n", float(est.n))
    ok = sum(bool(p) for p in passed)
    ctx.log(f"{what or name}: {ok}/{est.n} = {est.mean:.3f} "
            f"(95% CI {est.low:.3f}-{est.high:.3f})")
    return est


def evaluate_student(ctx: StageContext, *, adapter: Path | None, prompt_for: Callable[[Item], Messages],
                     task: str, role: str = "student", metric: str = "accuracy",
                     what: str = "", batch_size: int = 8,
                     steps_for: Callable[[str], list[StepIn]] | None = None,
                     answer_of: Callable[[str], str] | None = None,
                     stop: Sequence[str] = ()) -> Estimate:
    """The evaluation stage every answer-checked paradigm has: the student (with ``adapter``,
    or the base model when None) answers each evaluation item ``evaluation.samples`` times
    (``evaluation.temperature``), each answer is verified, stored as a trace with its
    ``evaluations`` row, and committed item by item; then accuracy of sample 0 with a
    Wilson CI (and pass@k for the recipe's k) is reported from the store, so a resumed
    stage reports the same numbers. ``answer_of`` and ``stop`` as for ``sample_verified``."""
    spec = ctx.recipe.evaluation
    items = eval_items(ctx)
    pending = list(ctx.pending(items, key=lambda it: it.item_hash))
    if pending:
        model, tokenizer = load_for_inference(ctx, adapter)
        for group in chunks(pending, batch_size):
            prompts = [prompt_for(u.value) for u in group]
            checked = sample_verified(ctx, model, tokenizer, [u.value for u in group], prompts,
                                      task=task, k=spec.samples, temperature=spec.temperature,
                                      max_new_tokens=spec.max_new_tokens,
                                      batch_size=batch_size, seed=ctx.recipe.seed,
                                      answer_of=answer_of, stop=stop)
            for unit, prompt, answers in zip(group, prompts, checked, strict=True):
                with ctx.commit(unit):
                    for j, answer in enumerate(answers):
                        store_checked(ctx, unit.value, answer, role=role,
                                      prompt=prompt[-1]["content"], sample_index=j,
                                      steps=steps_for(answer.text) if steps_for else ())
    return accuracy_from_store(ctx, metric=metric, what=what)


def accuracy_from_store(ctx: StageContext, *, metric: str = "accuracy",
                        what: str = "") -> Estimate:
    """Report this stage's accuracy (sample 0 per item) and pass@k from ``evaluations``."""
    from engine.metrics import pass_at_k_ci

    rows = traces.evaluations(ctx.store, ctx.run_id, ctx.stage)
    first = [bool(r["passed"]) for r in rows if r["sample_index"] == 0 and r["passed"] is not None]
    est = report_accuracy(ctx, first, metric, what)
    counts: dict[int, list[int]] = {}
    for r in rows:
        if r["passed"] is not None:
            c = counts.setdefault(r["item_id"], [0, 0])
            c[0] += 1
            c[1] += int(r["passed"])
    smallest = min((n for n, _ in counts.values()), default=0)
    for k in ctx.recipe.evaluation.k:
        if 1 < k <= smallest:
            ci = pass_at_k_ci([(n, ok) for n, ok in counts.values()], k)
            ctx.metric(f"{metric}_pass@{k}", ci.mean)
            ctx.metric(f"{metric}_pass@{k}_ci_low", ci.low)
            ctx.metric(f"{metric}_pass@{k}_ci_high", ci.high)
    return est
