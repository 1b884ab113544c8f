"""Adapter export, merge, GGUF conversion with llama.cpp's converter, and the parity check."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.recipes import LoraSpec, StudentSpec

from .tiny_model import ensure_tiny_model

pytestmark = pytest.mark.slow

PROMPTS = ["What is 3 plus 4?", [{"role": "user", "content": "What is 2 plus 5?"}]]


@pytest.fixture
def adapter(models_home: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The tiny base and a saved adapter with non-zero weights (as after training)."""
    import torch
    from peft import get_peft_model

    from engine.student.export import save_adapter
    from engine.student.load import load_student, lora_config

    tiny = ensure_tiny_model(models_home)
    model, tok = load_student(StudentSpec(model=str(tiny), quantization="none"),
                              for_training=False)
    peft_model = get_peft_model(model, lora_config(LoraSpec(r=4, alpha=8, dropout=0.0)))
    torch.manual_seed(3)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    out = save_adapter(peft_model, tok, tmp_path / "adapter", recipe_text="name: t\n")
    return tiny, out


def test_merge_convert_and_parity(adapter, tmp_path, db_path):
    import torch
    from transformers import AutoModelForCausalLM

    from engine.store import Store, runs
    from engine.student.export import TOLERANCE, export_gguf, parity_check
    from engine.student.load import load_student

    tiny, adapter_dir = adapter
    assert (adapter_dir / "recipe.yaml").read_text() == "name: t\n"
    store = Store(db_path)
    run = runs.create_run(store, name="t", paradigm="smoke", recipe_yaml="x: 1", seed=0,
                          stage_names=["train"])
    gguf, report = export_gguf(tiny, adapter_dir, tmp_path / "export", PROMPTS, outtype="f32",
                               store=store, run_id=run.id)
    merged = tmp_path / "export" / "merged"
    assert gguf.is_file() and gguf.stat().st_size > 100_000
    assert (merged / "recipe.yaml").is_file()

    # The merge equals base + adapter.
    with_adapter, _tok = load_student(StudentSpec(model=str(tiny), quantization="none"),
                                      for_training=False, adapter=adapter_dir)
    folded = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32)
    ids = torch.tensor([[1, 40, 50, 60, 70, 80]])
    with torch.no_grad():
        assert torch.allclose(with_adapter(input_ids=ids).logits, folded(input_ids=ids).logits,
                              atol=1e-4)

    assert report.passed, report.details
    assert report.tokens_equal and report.tokenizer_equal and report.n_prompts == 2
    assert report.max_abs_logprob_diff < TOLERANCE["f32"]
    assert all(len(d["hf_tokens"]) > 0 for d in report.details)
    kinds = {a["kind"]: a for a in runs.artifacts(store, run.id)}
    assert set(kinds) == {"merged_model", "gguf"}
    assert kinds["gguf"]["meta"]["parity"]["passed"] is True and kinds["gguf"]["bytes"] > 0

    # The check can fail: the base model's folder against the merged model's GGUF.
    wrong = parity_check(tiny, gguf, PROMPTS[:1])
    assert not wrong.passed and wrong.max_abs_logprob_diff > TOLERANCE["f32"]


def test_conversion_errors_are_clear(tmp_path):
    from engine.errors import DistillabError
    from engine.student.export import to_gguf

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{}")
    with pytest.raises(DistillabError, match=r"GGUF conversion of .*broken failed"):
        to_gguf(tmp_path / "broken", outtype="f32")
    assert not list(tmp_path.glob("*.gguf*"))
