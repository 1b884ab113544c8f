"""The embedded default model: located in its package, converted once, checked, cached."""

from __future__ import annotations

import json

import pytest

from engine.embedded import GGUF_NAME, embedded_model, gguf_path

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_gguf_is_found_in_the_installed_package():
    path = gguf_path()
    assert path.name == GGUF_NAME and path.stat().st_size > 50_000_000


def test_conversion_is_checked_cached_and_the_model_chats():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = embedded_model()
    manifest = json.loads((model.hf_dir / "distillab-manifest.json").read_text())
    assert manifest["parity_max_abs_diff"] < 1e-4
    assert (model.hf_dir / "config.json").is_file()
    stamps = {f.name: f.stat().st_mtime_ns for f in model.hf_dir.iterdir() if f.is_file()}
    assert embedded_model().hf_dir == model.hf_dir
    # cached: no second conversion rewrites any file of the converted model
    assert {f.name: f.stat().st_mtime_ns
            for f in model.hf_dir.iterdir() if f.is_file()} == stamps

    tok = AutoTokenizer.from_pretrained(model.hf_dir)
    lm = AutoModelForCausalLM.from_pretrained(model.hf_dir, dtype=torch.float32)
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is 2+3?"}],
                                     tokenize=False, add_generation_prompt=True)
    ids = tok(prompt, return_tensors="pt")
    out = lm.generate(**ids, max_new_tokens=20, do_sample=False)
    answer = tok.decode(out[0, ids.input_ids.shape[1]:], skip_special_tokens=True)
    assert "5" in answer


def test_a_damaged_conversion_is_redone():
    model = embedded_model()
    weights = next(model.hf_dir.glob("*.safetensors"))
    weights.write_bytes(b"truncated")
    again = embedded_model()
    assert next(again.hf_dir.glob("*.safetensors")).stat().st_size > 1_000_000
