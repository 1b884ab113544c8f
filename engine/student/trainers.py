"""The TRL pieces training needs: a weighted SFT trainer and the callbacks (events, cancel).

Imports TRL at module level, so only ``engine.student.train`` imports it, inside its
functions. Knows nothing of recipes, the store or the runner: callbacks get plain
callables.

Per-example weights: TRL has none, so ``WeightedSFTTrainer`` keeps a ``weight`` column
through its data pipeline and scales each example's per-token log-probabilities by it
before TRL reduces them. TRL's normalisation (sum over trained tokens / number of trained
tokens in the accumulated batch) is unchanged, so weights of 1 give exactly TRL's loss and
a weight of 2 counts an example's tokens twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from peft import PeftModel
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from trl.trainer.sft_trainer import SFTTrainer

EventFn = Callable[[str, float, int], None]

# Trainer log key -> event name (a stage prefixes them, e.g. "train/loss", for `metrics`).
LOG_KEYS = {
    "loss": "loss",
    "learning_rate": "lr",
    "grad_norm": "grad_norm",
    "eval_loss": "eval_loss",
    "rewards/margins": "reward_margin",
    "rewards/accuracies": "reward_accuracy",
    "eval_rewards/margins": "eval_reward_margin",
}


class _WeightCollator:
    """Wraps TRL's collator and adds the examples' weights as a (batch,) tensor."""

    def __init__(self, inner: Callable[[list[dict[str, Any]]], dict[str, Any]]) -> None:
        self.inner = inner

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        weights = [float(e.pop("weight")) for e in examples]
        batch = self.inner(examples)
        batch["weight"] = torch.tensor(weights, dtype=torch.float32)
        return batch


class WeightedSFTTrainer(SFTTrainer):
    """``SFTTrainer`` whose training loss weights each example by its ``weight`` column."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data_collator = _WeightCollator(self.data_collator)

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()  # type: ignore[no-untyped-call]
        columns: list[str] = list(self._signature_columns or [])
        if "weight" not in columns:
            self._signature_columns = [*columns, "weight"]  # type: ignore[assignment]

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        weight = inputs.pop("weight", None)
        if weight is None or not model.training:  # validation loss stays unweighted
            return super().compute_loss(  # type: ignore[no-untyped-call]
                model, inputs, return_outputs, num_items_in_batch)
        inner = model.get_base_model() if isinstance(model, PeftModel) else model

        def scale(_module: Any, _args: Any, output: Any) -> Any:
            # log_probs is (batch, seq-1), zero where nothing is trained.
            output.log_probs = output.log_probs * weight.to(output.log_probs)[:, None]
            return output

        handle = inner.register_forward_hook(scale)
        try:
            return super().compute_loss(  # type: ignore[no-untyped-call]
                model, inputs, return_outputs, num_items_in_batch)
        finally:
            handle.remove()


class EventCallback(TrainerCallback):
    """Sends loss, lr, grad-norm, tokens/s, ETA and the machine's load (engine.sysstats:
    CPU, RAM, GPU where present) to ``on_event(name, value, step)``, and
    ``("progress", max_steps, step)`` after every optimizer step (for a progress bar)."""

    def __init__(self, on_event: EventFn) -> None:
        self.on_event = on_event
        self._t0 = self._t_last = 0.0
        self._step0 = 0
        self._tokens_last = 0.0

    def on_train_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, **kwargs: Any) -> None:
        self._t0 = self._t_last = time.monotonic()
        self._step0 = state.global_step
        self._tokens_last = -1.0

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        self.on_event("progress", float(state.max_steps), state.global_step)

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if not logs:
            return
        step = state.global_step
        for key, name in LOG_KEYS.items():
            value = logs.get(key)
            if isinstance(value, int | float) and math.isfinite(value):
                self.on_event(name, float(value), step)
        if "loss" not in logs:  # an eval or end-of-training log: no throughput to report
            return
        from engine.sysstats import system_stats

        for name, value in system_stats().items():
            self.on_event(name, value, step)
        now = time.monotonic()
        # TRL counts the non-padding tokens it has trained on in `num_tokens`.
        tokens = float(logs.get("num_tokens", 0.0))
        if self._tokens_last >= 0 and now > self._t_last and tokens > self._tokens_last:
            self.on_event("tokens_per_s", (tokens - self._tokens_last) / (now - self._t_last),
                          step)
        self._tokens_last, self._t_last = tokens, now
        done = step - self._step0
        if done > 0 and state.max_steps > 0:
            self.on_event("eta_s", (state.max_steps - step) * (now - self._t0) / done, step)


class ProbeCallback(TrainerCallback):
    """Calls ``probe(step, checkpoint_dir, model, tokenizer)`` before the first step (step
    0, no folder) and after every checkpoint the Trainer saves (engine.probe decodes)."""

    def __init__(self, probe: Callable[[int, str | None, Any, Any], None]) -> None:
        self.probe = probe

    def on_train_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, **kwargs: Any) -> None:
        if state.global_step == 0:
            self.probe(0, None, kwargs["model"], kwargs["processing_class"])

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                **kwargs: Any) -> None:
        folder = f"{args.output_dir}/checkpoint-{state.global_step}"
        self.probe(state.global_step, folder, kwargs["model"], kwargs["processing_class"])


class StopCallback(TrainerCallback):
    """Cooperative cancel: when ``should_stop()`` says so, save a checkpoint and stop."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self.should_stop = should_stop
        self.stopped_at: int | None = None

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        if self.should_stop():
            control.should_save = True
            control.should_training_stop = True
            self.stopped_at = state.global_step
