"""SFT and DPO training of the student with TRL: LoRA/QLoRA, resume, cancel, OOM back-off.

``train_sft(rows, ...)`` trains on {"prompt", "completion", "weight"?} rows (loss on the
completion only, tokenised by ``engine.student.chat.encode_example``, the same function
the GUI uses to show the loss mask); ``train_dpo(rows, ...)`` on {"prompt", "chosen",
"rejected"} rows. Both:

- checkpoint every ``training.save_steps`` into ``out_dir``; when ``out_dir`` already
  holds checkpoints (a killed run) they resume from the last complete one: weights,
  optimizer, scheduler, RNG and data position (the Trainer's ``resume_from_checkpoint``);
- select the checkpoint with the lowest validation loss when ``eval_rows`` are given
  (the caller passes the validation split; the test split never comes here);
- report loss, lr, grad_norm, tokens_per_s, eta_s, eval_loss (DPO: reward_margin,
  reward_accuracy) through ``on_event(name, value, step)``, and ("progress", max_steps,
  step) after each optimizer step;
- stop cooperatively when ``should_stop()`` turns true: save a checkpoint, raise
  ``Cancelled`` (a re-run resumes);
- on CUDA out-of-memory halve the micro-batch, double gradient accumulation (same
  effective batch) and retry from the last checkpoint, saying what changed.

A finished run writes ``train_result.json``; calling again with the same ``out_dir``
returns that result without training.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import Cancelled, DistillabError
from engine.recipes import StudentSpec, TrainingSpec
from engine.student.chat import Prompt, encode_example

EventFn = Callable[[str, float, int], None]
LogFn = Callable[[str], None]
ADAPTER_DIR = "adapter"
RESULT_FILE = "train_result.json"


@dataclass
class TrainResult:
    """What a training run produced. ``model``/``tokenizer`` are the trained objects (None
    when the result was read back from a finished ``out_dir``)."""

    adapter_dir: Path
    steps: int
    best_checkpoint: Path | None
    metrics: dict[str, float]
    resumed_from: int | None = None
    adjustments: list[str] = field(default_factory=list)
    model: Any = None
    tokenizer: Any = None

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k not in ("model", "tokenizer")}
        return json.dumps(data, default=str, indent=1)

    @staticmethod
    def from_json(text: str) -> TrainResult:
        data = json.loads(text)
        best = data.pop("best_checkpoint")
        return TrainResult(adapter_dir=Path(data.pop("adapter_dir")),
                           best_checkpoint=Path(best) if best else None, **data)


def last_checkpoint(out_dir: Path) -> Path | None:
    """The newest complete checkpoint in ``out_dir`` (the Trainer writes trainer_state.json last,
    so a folder without a readable one was cut short by a kill and is skipped)."""
    found = [p for p in out_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    for path in sorted(found, key=lambda p: int(p.name.split("-")[-1]), reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        return path
    return None


def oom_back_off(step: int, batch: int, accum: int, out_dir: Path) -> tuple[str, int, int]:
    """After a CUDA out-of-memory at ``step``: the note saying what changes, and the halved
    micro-batch and doubled accumulation (same effective batch); a micro-batch of 1 is an
    error with the fix. Shared by the in-process retry and the launcher's relaunch."""
    if batch == 1:
        raise DistillabError(
            "the GPU ran out of memory even with a micro-batch of 1",
            "lower student.max_length, use quantization: nf4, lower lora.r, or use a "
            "smaller student")
    new_batch, new_accum = batch // 2, accum * 2
    note = (f"CUDA out of memory at step {step}: micro-batch {batch} -> {new_batch}, "
            f"gradient accumulation {accum} -> {new_accum} (effective batch "
            f"{new_batch * new_accum}); retrying from "
            f"{(last_checkpoint(out_dir) or Path('the start')).name}")
    return note, new_batch, new_accum


def trainer_arguments(training: TrainingSpec, student: StudentSpec, out_dir: Path | str,
                      batch: int, accum: int, seed: int, has_eval: bool = False,
                      log: LogFn | None = None) -> dict[str, Any]:
    """The TrainingArguments (SFTConfig / DPOConfig fields) a recipe's training section
    means, without the device-dependent ones; ``engine.cluster`` exports the same."""
    args: dict[str, Any] = dict(
        output_dir=str(out_dir), per_device_train_batch_size=batch,
        per_device_eval_batch_size=batch, gradient_accumulation_steps=accum,
        learning_rate=training.learning_rate, num_train_epochs=training.epochs,
        max_steps=training.max_steps or -1, warmup_steps=training.warmup_ratio,
        lr_scheduler_type=training.lr_scheduler, max_grad_norm=training.max_grad_norm,
        optim=training.optim, logging_steps=training.logging_steps, save_strategy="steps",
        save_steps=training.save_steps, save_total_limit=training.save_total_limit,
        seed=seed, data_seed=seed, report_to=[], disable_tqdm=True,
        gradient_checkpointing=student.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        # LoRA uses every trainable parameter in each step: DDP need not search for unused ones
        ddp_find_unused_parameters=False,
        max_length=student.max_length)
    if has_eval:
        eval_steps = training.eval_steps
        if training.save_steps % eval_steps:
            # Best-checkpoint selection needs an evaluation at every save.
            if log is not None:
                log(f"eval_steps {eval_steps} does not divide save_steps "
                    f"{training.save_steps}: validating every {training.save_steps} steps "
                    "instead")
            eval_steps = training.save_steps
        args.update(eval_strategy="steps", eval_steps=eval_steps, load_best_model_at_end=True,
                    metric_for_best_model="eval_loss", greater_is_better=False)
    return args


def _args(training: TrainingSpec, student: StudentSpec, out_dir: Path, batch: int, accum: int,
          seed: int, has_eval: bool, log: LogFn) -> dict[str, Any]:
    """TrainingArguments shared by SFTConfig and DPOConfig."""
    import torch

    on_cuda = torch.cuda.is_available()
    args = trainer_arguments(training, student, out_dir, batch, accum, seed, has_eval, log)
    args.update(bf16=on_cuda and torch.cuda.is_bf16_supported(), use_cpu=not on_cuda)
    return args


def _sft_dataset(tokenizer: Any, rows: Sequence[dict[str, Any]], max_length: int,
                 weighted: bool) -> Any:
    from datasets import Dataset

    cols: dict[str, list[Any]] = {"input_ids": [], "completion_mask": []}
    if weighted:
        cols["weight"] = []
    for i, row in enumerate(rows):
        if "prompt" not in row or "completion" not in row:
            raise DistillabError(f"SFT row {i} has no 'prompt' or 'completion' (keys: {sorted(row)})",
                                 "give each row a prompt (text or chat messages) and a completion")
        enc = encode_example(tokenizer, row["prompt"], row["completion"], max_length)
        cols["input_ids"].append(enc.input_ids)
        cols["completion_mask"].append(enc.completion_mask)
        if weighted:
            cols["weight"].append(float(row.get("weight", 1.0)))
    return Dataset.from_dict(cols)


def make_sft_trainer(model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], *,
                     student: StudentSpec, training: TrainingSpec, out_dir: Path,
                     eval_rows: Sequence[dict[str, Any]] | None = None, batch: int | None = None,
                     accum: int | None = None, seed: int = 0, callbacks: Sequence[Any] = (),
                     log: LogFn = print) -> Any:
    """The configured (weighted) SFTTrainer; ``train_sft`` drives it."""
    from trl.trainer.sft_config import SFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    from engine.student.trainers import WeightedSFTTrainer

    weighted = any("weight" in r for r in [*rows, *(eval_rows or [])])
    if weighted and training.packing:
        raise DistillabError("per-example weights cannot be combined with packing",
                             "set training.packing: false, or drop the weights")
    config = SFTConfig(
        **_args(training, student, out_dir, batch or training.batch_size,
                accum or training.grad_accum, seed, bool(eval_rows), log),
        # Packing (TRL's best-fit strategy) implies padding-free batches; transformers then
        # builds a block-diagonal mask from the position ids, so packed examples never
        # attend to each other (flash-attention skips the masked blocks, SDPA masks them).
        completion_only_loss=True, packing=training.packing)
    trainer_cls: type[SFTTrainer] = WeightedSFTTrainer if weighted else SFTTrainer
    return trainer_cls(
        model=model, args=config, processing_class=tokenizer,
        train_dataset=_sft_dataset(tokenizer, rows, student.max_length, weighted),
        eval_dataset=_sft_dataset(tokenizer, eval_rows, student.max_length, weighted)
        if eval_rows else None,
        callbacks=list(callbacks))


def _dpo_dataset(rows: Sequence[dict[str, Any]]) -> Any:
    from datasets import Dataset

    out: dict[str, list[Any]] = {"prompt": [], "chosen": [], "rejected": []}
    for i, row in enumerate(rows):
        missing = {"prompt", "chosen", "rejected"} - set(row)
        if missing:
            raise DistillabError(f"DPO row {i} lacks {sorted(missing)}",
                                 "give each pair a prompt, a chosen and a rejected answer")
        prompt: Prompt = row["prompt"]
        out["prompt"].append(prompt)
        for key in ("chosen", "rejected"):
            # A chat prompt needs chat-formatted answers (TRL's conversational format).
            text = row[key]
            out[key].append(text if isinstance(prompt, str)
                            else [{"role": "assistant", "content": text}])
    return Dataset.from_dict(out)


def make_dpo_trainer(model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], *,
                     student: StudentSpec, training: TrainingSpec, out_dir: Path,
                     eval_rows: Sequence[dict[str, Any]] | None = None, batch: int | None = None,
                     accum: int | None = None, seed: int = 0, callbacks: Sequence[Any] = (),
                     log: LogFn = print, beta: float = 0.1, continuation: bool = False) -> Any:
    """The configured DPOTrainer. The reference model: a fresh adapter's base (adapter
    disabled); a model that continues a saved adapter gets a frozen copy of it as TRL's
    "ref" adapter, so the reference is the policy DPO starts from (TRL 1.16's DPOTrainer,
    for a PeftModel passed without a peft_config). ``continuation``: the answers continue
    a text, so the end-of-text token TRL appends to plain-text answers is dropped again."""
    from trl.trainer.dpo_config import DPOConfig
    from trl.trainer.dpo_trainer import DPOTrainer

    config = DPOConfig(**_args(training, student, out_dir, batch or training.batch_size,
                               accum or training.grad_accum, seed, bool(eval_rows), log),
                       beta=beta)
    # A retry (after an out-of-memory) builds a new trainer on the same model: TRL would add
    # its "ref" adapter again (an error), copied from the half-trained one. Keep the first.
    ref = {n: p.detach().clone() for n, p in model.named_parameters() if ".ref." in n}
    if ref:
        model.delete_adapter("ref")
    trainer = DPOTrainer(model=model, args=config, processing_class=tokenizer,
                         train_dataset=_dpo_dataset(rows),
                         eval_dataset=_dpo_dataset(eval_rows) if eval_rows else None,
                         callbacks=list(callbacks))
    if ref:
        import torch

        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in ref:
                    param.copy_(ref[name])
    if continuation:
        trainer.train_dataset = _without_eos(trainer.train_dataset, tokenizer.eos_token_id)
        if trainer.eval_dataset is not None:
            trainer.eval_dataset = _without_eos(trainer.eval_dataset, tokenizer.eos_token_id)
    return trainer


def _without_eos(dataset: Any, eos: int | None) -> Any:
    """Tokenised DPO pairs without the end-of-text token TRL appends to plain-text answers:
    for a pair that is one step inside a longer text, that token would teach the model to
    stop after the step (it is never the same context in chosen and rejected, so it does
    not cancel out of the DPO margin)."""
    def drop(example: dict[str, Any]) -> dict[str, Any]:
        for key in ("chosen_ids", "rejected_ids"):
            ids = list(example[key])
            if len(ids) > 1 and ids[-1] == eos:
                example[key] = ids[:-1]
        return example

    return dataset.map(drop)


TrainerFactory = Callable[..., Any]


def _drive(make: TrainerFactory, rows: Sequence[dict[str, Any]], *, student: StudentSpec,
           training: TrainingSpec, out_dir: Path, eval_rows: Sequence[dict[str, Any]] | None,
           on_event: EventFn | None, should_stop: Callable[[], bool] | None,
           on_log: LogFn | None, seed: int, callbacks: Sequence[Any],
           extra: dict[str, Any], init_adapter: Path | None = None,
           retry_oom: bool = True, batch: int | None = None,
           accum: int | None = None) -> TrainResult:
    import torch
    from transformers import set_seed

    from engine.student.load import load_student
    from engine.student.trainers import EventCallback, StopCallback

    out_dir.mkdir(parents=True, exist_ok=True)
    done = out_dir / RESULT_FILE
    if done.is_file():
        return TrainResult.from_json(done.read_text())
    if not rows:
        raise DistillabError("no training rows", "check that the earlier stages produced data")
    log = on_log or (lambda _msg: None)
    # Seeded before loading: the LoRA A matrices are drawn at load time, and a run must be
    # reproducible from its seed (the Trainer only seeds later).
    set_seed(seed)
    # init_adapter: go on training a saved adapter (e.g. DPO after SFT, or the next round
    # of an active-learning loop) instead of fresh LoRA matrices
    model, tokenizer = load_student(student, for_training=True, adapter=init_adapter)
    _check_lengths(tokenizer, rows, student.max_length, log)
    # Restored when an OOM strikes before the first checkpoint: a retry must not start
    # from half-trained adapters.
    initial = {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}
    batch, accum = batch or training.batch_size, accum or training.grad_accum
    adjustments: list[str] = []
    stop = StopCallback(should_stop) if should_stop else None
    cbs = [*callbacks, *([EventCallback(on_event)] if on_event else []), *([stop] if stop else [])]
    resumed_from: int | None = None
    while True:
        trainer = make(model, tokenizer, rows, student=student, training=training,
                       out_dir=out_dir, eval_rows=eval_rows, batch=batch, accum=accum,
                       seed=seed, callbacks=cbs, log=log, **extra)
        # the Trainer prints every log dict to stdout; ours go out as events instead
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
        checkpoint = last_checkpoint(out_dir)
        if checkpoint is not None:
            step = int(checkpoint.name.split("-")[-1])
            resumed_from = step if resumed_from is None else resumed_from
            log(f"resuming from {checkpoint.name} (step {step})")
        try:
            trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
            break
        except torch.OutOfMemoryError:
            if not retry_oom:  # under a launcher, the parent retries with a new process group
                raise
            step = trainer.state.global_step
            del trainer
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if batch > 1 and checkpoint is None and last_checkpoint(out_dir) is None:
                with torch.no_grad():
                    for name, param in model.named_parameters():
                        if name in initial:
                            param.copy_(initial[name])
            note, new_batch, new_accum = oom_back_off(step, batch, accum, out_dir)
            log(note)
            adjustments.append(note)
            batch, accum = new_batch, new_accum
    if stop is not None and stop.stopped_at is not None:
        raise Cancelled(f"training stopped at step {stop.stopped_at}; the checkpoint there is "
                        "where a resumed run continues")
    adapter_dir = out_dir / ADAPTER_DIR
    result = TrainResult(adapter_dir=adapter_dir, steps=trainer.state.global_step,
                         best_checkpoint=Path(trainer.state.best_model_checkpoint)
                         if trainer.state.best_model_checkpoint else None,
                         metrics=_summary(trainer.state.log_history),
                         resumed_from=resumed_from, adjustments=adjustments)
    # Several processes (accelerate launch) train one model: the first one saves it.
    if trainer.is_world_process_zero():
        trainer.model.save_pretrained(adapter_dir)
        tokenizer.save_pretrained(adapter_dir)
        done.write_text(result.to_json())
        log(f"adapter saved to {adapter_dir}")
    result.model, result.tokenizer = trainer.model, tokenizer
    return result


def _check_lengths(tokenizer: Any, rows: Sequence[dict[str, Any]], max_length: int,
                   log: LogFn) -> None:
    """Rows whose completion is cut off entirely by max_length train nothing (TRL drops
    them); say so here, with the fix, instead of failing later inside the Trainer."""
    if "chosen" in rows[0]:  # DPO rows: TRL truncates prompt and answers on its own terms
        return
    lengths = []
    lost = 0
    for row in rows:
        encoded = encode_example(tokenizer, row["prompt"], row["completion"])
        lengths.append(len(encoded.input_ids))
        if not any(encoded.completion_mask[:max_length]):
            lost += 1
    if lost == len(rows):
        raise DistillabError(
            f"all {len(rows)} training examples are longer than student.max_length "
            f"({max_length} tokens) before their completion starts, so nothing would be "
            f"trained (longest example: {max(lengths)} tokens)",
            f"raise student.max_length to at least {sorted(lengths)[len(lengths) // 2]} "
            "(the median example), or shorten the prompts")
    if lost:
        log(f"{lost} of {len(rows)} training examples lose their whole completion at "
            f"max_length {max_length} and are skipped; raise student.max_length to keep them")


def _summary(history: list[dict[str, Any]]) -> dict[str, float]:
    """Last train loss, best validation loss, throughput, from the Trainer's log history."""
    out: dict[str, float] = {}
    for entry in history:
        if "loss" in entry:
            out["train_loss"] = float(entry["loss"])
        if "eval_loss" in entry:
            out["best_eval_loss"] = min(float(entry["eval_loss"]),
                                        out.get("best_eval_loss", float("inf")))
        for key in ("train_runtime", "train_samples_per_second", "num_tokens"):
            if key in entry:
                out[key] = float(entry[key])
    return out


def train_sft(rows: Sequence[dict[str, Any]], *, student: StudentSpec, training: TrainingSpec,
              out_dir: Path, eval_rows: Sequence[dict[str, Any]] | None = None,
              on_event: EventFn | None = None, should_stop: Callable[[], bool] | None = None,
              on_log: LogFn | None = None, seed: int = 0,
              callbacks: Sequence[Any] = (), init_adapter: Path | None = None,
              **launch: Any) -> TrainResult:
    """Supervised fine-tuning on prompt/completion rows (optional per-row ``weight``);
    ``init_adapter`` continues a saved adapter instead of starting fresh LoRA weights.
    ``launch``: what a launcher's worker sets (``retry_oom``, ``batch``, ``accum``)."""
    return _drive(make_sft_trainer, rows, student=student, training=training, out_dir=out_dir,
                  eval_rows=eval_rows, on_event=on_event, should_stop=should_stop,
                  on_log=on_log, seed=seed, callbacks=callbacks, extra={},
                  init_adapter=init_adapter, **launch)


def train_dpo(rows: Sequence[dict[str, Any]], *, student: StudentSpec, training: TrainingSpec,
              out_dir: Path, eval_rows: Sequence[dict[str, Any]] | None = None,
              on_event: EventFn | None = None, should_stop: Callable[[], bool] | None = None,
              on_log: LogFn | None = None, seed: int = 0, beta: float = 0.1,
              callbacks: Sequence[Any] = (), init_adapter: Path | None = None,
              continuation: bool = False, **launch: Any) -> TrainResult:
    """Direct preference optimisation on prompt/chosen/rejected rows; ``init_adapter``
    starts from a saved adapter, which is then also the reference (a frozen copy; without
    it the reference is the base); ``continuation`` as for ``make_dpo_trainer``; ``launch``
    as for ``train_sft``."""
    return _drive(make_dpo_trainer, rows, student=student, training=training, out_dir=out_dir,
                  eval_rows=eval_rows, on_event=on_event, should_stop=should_stop,
                  on_log=on_log, seed=seed, callbacks=callbacks,
                  extra={"beta": beta, "continuation": continuation},
                  init_adapter=init_adapter, **launch)
