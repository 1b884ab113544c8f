"""The embedded SmolLM2-135M-Instruct as a student: 4-bit and fp32 loading, generation, LoRA steps."""

from __future__ import annotations

import pytest

from engine.recipes import LoraSpec, StudentSpec, TrainingSpec

pytestmark = [pytest.mark.slow, pytest.mark.integration]

QUESTION = [{"role": "user", "content": "What is 2+3?"}]


def test_smollm2_loads_in_4bit_and_fp32_and_generates():
    from engine.student.load import count_parameters, load_student
    from engine.student.sample import sample

    fp32, tok = load_student(StudentSpec(model="embedded", quantization="none"),
                             for_training=False)
    nf4, _ = load_student(StudentSpec(model="embedded", quantization="nf4"), for_training=False)
    assert nf4.is_loaded_in_4bit and not getattr(fp32, "is_loaded_in_4bit", False)
    _trainable, total = count_parameters(fp32)
    assert 130e6 < total < 140e6
    answer = sample(fp32, tok, [QUESTION], temperature=0, max_new_tokens=20)[0][0]
    assert "5" in answer.text and answer.finish_reason == "stop"
    quantised = sample(nf4, tok, [QUESTION], temperature=0, max_new_tokens=20)[0][0]
    assert quantised.tokens > 0 and quantised.text.strip()


def test_smollm2_qlora_steps_run(tmp_path):
    from engine.student.train import train_sft

    events: list = []
    rows = [{"prompt": QUESTION, "completion": "2 + 3 = 5."},
            {"prompt": [{"role": "user", "content": "What is 4+4?"}], "completion": "4 + 4 = 8."}]
    result = train_sft(rows, student=StudentSpec(model="embedded", quantization="nf4",
                                                 max_length=64, lora=LoraSpec(r=4, alpha=8)),
                       training=TrainingSpec(max_steps=3, batch_size=2, grad_accum=1,
                                             logging_steps=1, save_steps=3),
                       out_dir=tmp_path / "t", on_event=lambda n, v, s: events.append((n, v, s)))
    assert result.steps == 3 and (result.adapter_dir / "adapter_config.json").is_file()
    assert [s for n, _v, s in events if n == "loss"] == [1, 2, 3]
