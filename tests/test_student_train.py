"""SFT and DPO on the tiny model: QLoRA (nf4 on CPU), weights, events, best checkpoint,
reload, cancel and the out-of-memory back-off."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import Cancelled
from engine.recipes import LoraSpec, StudentSpec, TrainingSpec
from engine.student.chat import encode_example, marked_text, render_example

from .tiny_model import dpo_rows, ensure_tiny_model, sft_rows

pytestmark = pytest.mark.slow


@pytest.fixture
def tiny(models_home: Path) -> Path:
    return ensure_tiny_model(models_home)


def _student(tiny: Path, quantization: str = "nf4") -> StudentSpec:
    return StudentSpec(model=str(tiny), quantization=quantization, max_length=64,
                       lora=LoraSpec(r=8, alpha=16, dropout=0.0))


def _training(**kw) -> TrainingSpec:
    base = dict(max_steps=12, batch_size=4, grad_accum=1, learning_rate=1e-2, warmup_ratio=0.0,
                lr_scheduler="constant", logging_steps=1, save_steps=6, eval_steps=6)
    return TrainingSpec(**{**base, **kw})


def _events():
    seen: list[tuple[str, float, int]] = []
    return seen, lambda name, value, step: seen.append((name, value, step))


def _series(events, name):
    return [v for n, v, _s in events if n == name]


def test_render_marks_exactly_the_completion_as_trained(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    prompt = [{"role": "user", "content": "What is 2 plus 3?"}]
    segments = render_example(tok, prompt, "The answer is 5.")
    assert [s.trained for s in segments] == [False, True]
    assert segments[0].text.endswith("<|im_start|>assistant\n")
    assert segments[1].text.startswith("The answer is 5.<|im_end|>")
    assert "⟦The answer is 5.<|im_end|>" in marked_text(segments)
    enc = encode_example(tok, prompt, "The answer is 5.")
    assert sum(enc.completion_mask) == segments[1].n_tokens
    # A plain-text prompt whose last characters merge with the completion's first ones
    # ("answ" + "er" -> "answer"): the merged token is trained, and EOS is appended.
    plain = render_example(tok, "the answ", "er is 5")
    assert plain[-1].trained and plain[-1].text.endswith("<|im_end|>")
    assert "".join(s.text for s in plain) == "the answer is 5<|im_end|>"


def test_qlora_sft_learns_only_lora_and_reloads_identically(tiny, tmp_path):
    import torch

    from engine.student.load import load_student
    from engine.student.train import train_sft

    student = _student(tiny)
    rows = sft_rows(16)
    events, on_event = _events()
    result = train_sft(rows, student=student, training=_training(), out_dir=tmp_path / "sft",
                       eval_rows=sft_rows(20)[16:], on_event=on_event, seed=1)
    assert result.steps == 12
    losses = _series(events, "loss")
    assert len(losses) == 12 and losses[-1] < 0.6 * losses[0]
    for name in ("lr", "grad_norm", "tokens_per_s", "eta_s", "eval_loss"):
        assert _series(events, name), name
    assert all(v > 0 for v in _series(events, "tokens_per_s"))
    assert result.best_checkpoint is not None and result.best_checkpoint.parent == tmp_path / "sft"
    assert result.metrics["best_eval_loss"] == min(_series(events, "eval_loss"))

    model = result.model
    assert model.is_loaded_in_4bit
    lora_b = {n: p for n, p in model.named_parameters() if "lora_B" in n}
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b.values())  # B starts at zero

    fresh, tok = load_student(student, for_training=False)
    trained_base = {n.replace(".base_layer", ""): t for n, t in
                    model.get_base_model().state_dict().items() if "lora_" not in n}
    fresh_state = fresh.state_dict()
    assert set(trained_base) == set(fresh_state)
    for name, tensor in fresh_state.items():  # 4-bit codes, scales, norms, embeddings
        assert torch.equal(trained_base[name], tensor), name

    reloaded, _ = load_student(student, for_training=False, adapter=result.adapter_dir)
    ids = torch.tensor([encode_example(tok, r["prompt"], r["completion"]).input_ids[:24]
                        for r in rows[:3]])
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, reloaded(input_ids=ids).logits)
        assert not torch.equal(fresh(input_ids=ids).logits, reloaded(input_ids=ids).logits)

    again = train_sft(rows, student=student, training=_training(), out_dir=tmp_path / "sft")
    assert again.model is None and again.steps == 12 and again.adapter_dir == result.adapter_dir


def test_qlora_dpo_raises_the_reward_margin(tiny, tmp_path):
    from engine.student.train import train_dpo

    events, on_event = _events()
    result = train_dpo(dpo_rows(12), student=_student(tiny),
                       training=_training(max_steps=10, save_steps=10, learning_rate=2e-2),
                       out_dir=tmp_path / "dpo", on_event=on_event, beta=0.1)
    margins = _series(events, "reward_margin")
    assert len(margins) == 10
    assert abs(margins[0]) < 0.05  # step 1: policy == reference
    assert sum(margins[-3:]) / 3 > 0.5
    assert _series(events, "loss")[-1] < _series(events, "loss")[0]
    assert any(p.abs().sum() > 0 for n, p in result.model.named_parameters() if "lora_B" in n)
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()


def test_per_example_weights_scale_the_loss(tiny, tmp_path):
    import torch

    from engine.student.load import load_student
    from engine.student.train import make_sft_trainer

    student = _student(tiny, "none")
    model, tok = load_student(student, for_training=True)
    rows = [{**r, "weight": 1.0} for r in sft_rows(4)]
    trainer = make_sft_trainer(model, tok, rows, student=student, training=_training(),
                               out_dir=tmp_path / "w", log=lambda _m: None)
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["weight"].tolist() == [1.0] * 4  # the column survived TRL's pipeline
    model.train()

    def loss(weights):
        inputs = {k: v for k, v in batch.items()}
        if weights is not None:
            inputs["weight"] = torch.tensor(weights)
        else:
            inputs.pop("weight")
        with torch.no_grad():
            return float(trainer.compute_loss(model, inputs))

    plain = loss(None)  # TRL's own loss
    assert loss([1.0] * 4) == pytest.approx(plain, rel=1e-6)
    assert loss([2.0] * 4) == pytest.approx(2 * plain, rel=1e-6)
    assert loss([0.0] * 4) == 0.0
    first, rest = loss([1.0, 0, 0, 0]), loss([0, 1.0, 1.0, 1.0])
    assert first + rest == pytest.approx(plain, rel=1e-5) and first != pytest.approx(rest)


def test_cancel_saves_a_checkpoint_and_a_rerun_resumes(tiny, tmp_path):
    from engine.student.train import last_checkpoint, train_sft

    out = tmp_path / "c"
    events, on_event = _events()
    with pytest.raises(Cancelled):
        train_sft(sft_rows(8), student=_student(tiny, "none"),
                  training=_training(max_steps=6, save_steps=100), out_dir=out,
                  on_event=on_event, should_stop=lambda: bool(_series(events, "loss")))
    # The flag turns true once step 1's loss is logged, i.e. it is seen at the end of step 2;
    # the checkpoint is saved there, not at save_steps.
    assert last_checkpoint(out).name == "checkpoint-2"
    events.clear()
    result = train_sft(sft_rows(8), student=_student(tiny, "none"),
                       training=_training(max_steps=6, save_steps=100), out_dir=out,
                       on_event=on_event)
    assert result.resumed_from == 2 and result.steps == 6
    assert [s for n, _v, s in events if n == "loss"] == [3, 4, 5, 6]


def test_out_of_memory_halves_the_batch_and_resumes(tiny, tmp_path):
    import torch
    from transformers import TrainerCallback

    from engine.student.train import train_sft

    class OOMOnce(TrainerCallback):
        """No GPU here: raise what CUDA would, once, at step 3 with the original batch."""

        def __init__(self):
            self.batches = []

        def on_step_end(self, args, state, control, **kw):
            self.batches.append((state.global_step, args.per_device_train_batch_size,
                                 args.gradient_accumulation_steps))
            if state.global_step == 3 and args.per_device_train_batch_size == 4:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    cb, notes = OOMOnce(), []
    result = train_sft(sft_rows(16), student=_student(tiny, "none"),
                       training=_training(max_steps=5, save_steps=2), out_dir=tmp_path / "o",
                       on_log=notes.append, callbacks=[cb])
    assert result.steps == 5 and result.resumed_from == 2
    assert len(result.adjustments) == 1
    note = result.adjustments[0]
    assert "micro-batch 4 -> 2" in note and "gradient accumulation 1 -> 2" in note
    assert "checkpoint-2" in note and note in notes
    # Steps 1-3 ran with 4x1; the retry resumed after step 2 with 2x2.
    assert cb.batches == [(1, 4, 1), (2, 4, 1), (3, 4, 1), (3, 2, 2), (4, 2, 2), (5, 2, 2)]


def test_examples_cut_off_by_max_length_are_a_clear_error(tiny, tmp_path):
    from engine.errors import DistillabError
    from engine.student import train_sft

    rows = [{**row, "prompt": [{"role": "user", "content": "What is the answer? " * 20}]}
            for row in sft_rows(4)]
    with pytest.raises(DistillabError, match=r"raise student\.max_length to at least"):
        train_sft(rows, student=_student(tiny, "none").model_copy(update={"max_length": 16}),
                  training=_training(max_steps=1), out_dir=tmp_path / "out")


def test_dpo_continuation_drops_the_end_of_text_after_the_answers(tiny, tmp_path):
    from engine.student.load import load_student
    from engine.student.train import make_dpo_trainer

    student = _student(tiny, "none")
    rows = [{"prompt": "What is 2 plus 3? Step 1:", "chosen": " 2 + 3 = 5.",
             "rejected": " 2 + 3 = 6."}] * 2
    ends = {}
    for continuation in (False, True):
        model, tok = load_student(student, for_training=True)
        trainer = make_dpo_trainer(model, tok, rows, student=student, training=_training(),
                                   out_dir=tmp_path / str(continuation), log=lambda _m: None,
                                   continuation=continuation)
        first = trainer.train_dataset[0]
        ends[continuation] = (first["chosen_ids"][-1], first["rejected_ids"][-1])
        assert tok.decode(first["chosen_ids"]).startswith(" 2 + 3 = 5.")
    assert ends[False] == (tok.eos_token_id, tok.eos_token_id)
    assert tok.eos_token_id not in ends[True]


def test_a_dpo_trainer_rebuilt_on_the_same_model_keeps_the_first_reference(tiny, tmp_path):
    """What the out-of-memory retry does: a second trainer on a model that already holds
    TRL's frozen "ref" adapter keeps that reference, not a copy of the moved policy."""
    import torch

    from engine.student.load import load_student
    from engine.student.train import make_dpo_trainer, train_sft

    student = _student(tiny, "none")
    sft = train_sft(sft_rows(8), student=student, training=_training(max_steps=2, save_steps=2),
                    out_dir=tmp_path / "sft")
    model, tok = load_student(student, for_training=True, adapter=sft.adapter_dir)
    make_dpo_trainer(model, tok, dpo_rows(4), student=student, training=_training(),
                     out_dir=tmp_path / "a", log=lambda _m: None)
    first = {n: p.detach().clone() for n, p in model.named_parameters() if ".ref." in n}
    with torch.no_grad():  # the policy moves (as training would)
        for n, p in model.named_parameters():
            if ".default." in n and "lora_B" in n:
                p.add_(1.0)
    trainer = make_dpo_trainer(model, tok, dpo_rows(4), student=student, training=_training(),
                               out_dir=tmp_path / "b", log=lambda _m: None)
    again = {n: p for n, p in trainer.model.named_parameters() if ".ref." in n}
    assert first and first.keys() == again.keys()
    assert all(torch.equal(first[n], again[n]) for n in first)
