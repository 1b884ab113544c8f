"""Exporting a trained student: adapter folder, merged model, GGUF, and a parity check.

``save_adapter`` writes the LoRA adapter with its tokenizer and the recipe snapshot;
``merge_adapter`` folds it into a full-precision copy of the base; ``to_gguf`` converts a
merged folder with llama.cpp's own converter (``convert_hf_to_gguf.py``, vendored in the
llama-cpp-python sdist and unpacked by packaging/setup.sh into
``.venv/share/distillab/gguf-convert``; it supports every architecture llama.cpp runs,
which a hand-written GGUF writer would not); ``parity_check`` runs the same prompts through
transformers and llama.cpp and compares greedy tokens and log-probabilities. Everything
can be registered in the store's ``artifacts`` table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import DistillabError
from engine.store import Store, runs

# Max |log p(HF) - log p(llama.cpp)| accepted over the compared positions, by GGUF weight
# type. f32 reproduces transformers to ~2e-5 on CPU (f32 KV cache); 16-bit weights round
# each weight by 2^-8 (bf16) or 2^-11 (f16) relative; q8_0 by ~2^-8 per block.
TOLERANCE = {"f32": 1e-3, "f16": 5e-2, "bf16": 1e-1, "q8_0": 2e-1}
CONVERTER_ENV = "DISTILLAB_GGUF_CONVERTER"

# Runs inside a fresh interpreter so the converter's own gguf-py never meets the installed
# `gguf` package. llama.cpp recognises BPE pre-tokenizers by hashing a probe text's tokens;
# a tokenizer it does not know (e.g. one trained from scratch) is accepted only when it
# declares GPT-2's byte-level pre-tokenizer, which llama.cpp's "gpt-2" reproduces exactly.
_RUNNER = r"""
import json, sys
from pathlib import Path
conv, model, out, outtype = sys.argv[1:5]
sys.path.insert(0, conv)
import convert_hf_to_gguf as cv
from conversion.base import TextModel
known = TextModel.get_vocab_base_pre
def get_vocab_base_pre(self, tokenizer):
    try:
        return known(self, tokenizer)
    except NotImplementedError:
        pre = json.loads((Path(model) / "tokenizer.json").read_text()).get("pre_tokenizer") or {}
        if pre.get("type") == "ByteLevel" and pre.get("use_regex", True):
            return "gpt-2"
        raise
TextModel.get_vocab_base_pre = get_vocab_base_pre
sys.argv = ["convert_hf_to_gguf.py", model, "--outfile", out, "--outtype", outtype]
cv.main()
"""


def save_adapter(model: Any, tokenizer: Any, out_dir: Path, *, recipe_text: str | None = None,
                 store: Store | None = None, run_id: int | None = None) -> Path:
    """Write the adapter, its tokenizer and (if given) the recipe that produced it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    if recipe_text is not None:
        (out_dir / "recipe.yaml").write_text(recipe_text, encoding="utf-8")
    if store is not None:
        runs.add_artifact(store, run_id, "adapter", out_dir, {"recipe": recipe_text is not None})
    return out_dir


def merge_adapter(base: str | Path, adapter: Path, out_dir: Path, *,
                  store: Store | None = None, run_id: int | None = None) -> Path:
    """The base model (full precision, not the 4-bit copy) with the adapter merged in, saved.

    Merging into dequantised weights is the standard QLoRA export; the merged model
    differs from base-in-nf4 + adapter by the 4-bit rounding the adapter was trained on.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from engine.student.load import load_tokenizer, resolve_model

    path = resolve_model(str(base))
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    for stale in (tmp, out_dir):  # a killed or earlier export
        shutil.rmtree(stale, ignore_errors=True)
    merged.save_pretrained(tmp)
    load_tokenizer(adapter if (adapter / "tokenizer_config.json").is_file() else path) \
        .save_pretrained(tmp)
    if (adapter / "recipe.yaml").is_file():
        (tmp / "recipe.yaml").write_bytes((adapter / "recipe.yaml").read_bytes())
    tmp.replace(out_dir)
    if store is not None:
        runs.add_artifact(store, run_id, "merged_model", out_dir,
                          {"base": str(base), "adapter": str(adapter)})
    return out_dir


def converter_dir() -> Path:
    """Where llama.cpp's converter was unpacked (``DISTILLAB_GGUF_CONVERTER`` overrides)."""
    env = os.environ.get(CONVERTER_ENV)
    path = Path(env) if env else Path(sys.prefix) / "share" / "distillab" / "gguf-convert"
    if not (path / "convert_hf_to_gguf.py").is_file():
        raise DistillabError(
            f"llama.cpp's GGUF converter is not in {path}",
            "run `bash packaging/setup.sh` (it unpacks the converter from the llama-cpp-python "
            f"sdist), or point {CONVERTER_ENV} at a llama.cpp checkout")
    return path


def to_gguf(folder: Path, out_file: Path | None = None, *, outtype: str = "f16",
            store: Store | None = None, run_id: int | None = None) -> Path:
    """Convert a Hugging Face folder to one GGUF file (written whole or not at all)."""
    if outtype not in TOLERANCE:
        raise DistillabError(f"unknown GGUF type {outtype!r}", f"use one of {sorted(TOLERANCE)}")
    out = out_file or folder.with_name(f"{folder.name}.{outtype}.gguf")
    tmp = out.with_name(out.name + ".tmp")
    done = subprocess.run([sys.executable, "-c", _RUNNER, str(converter_dir()), str(folder),
                           str(tmp), outtype], capture_output=True, text=True, timeout=3600)
    if done.returncode != 0 or not tmp.is_file():
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        tmp.unlink(missing_ok=True)
        raise DistillabError(f"GGUF conversion of {folder} failed:\n{tail}",
                             "check that the folder is a complete model (config.json, weights, "
                             "tokenizer) of an architecture llama.cpp supports")
    tmp.replace(out)
    if store is not None:
        runs.add_artifact(store, run_id, "gguf", out, {"source": str(folder), "outtype": outtype})
    return out


@dataclass
class ParityReport:
    """transformers vs llama.cpp on the same prompts: greedy tokens and log-probabilities."""

    passed: bool
    tokens_equal: bool
    tokenizer_equal: bool
    max_abs_logprob_diff: float
    tolerance: float
    n_prompts: int
    n_new_tokens: int
    details: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parity_check(hf_folder: Path, gguf: Path, prompts: Sequence[str | list[dict[str, str]]], *,
                 n_new_tokens: int = 16, tolerance: float = TOLERANCE["f32"]) -> ParityReport:
    """Greedy-decode each prompt with both runtimes; compare tokens and full-vocabulary log-probs.

    Log-probs are compared at every position that predicts one of transformers' greedy
    tokens. llama.cpp runs with an f32 KV cache, so the check measures the conversion, not
    the (default f16) cache.
    """
    import numpy as np
    import torch
    from llama_cpp import GGML_TYPE_F32, Llama
    from transformers import AutoModelForCausalLM

    from engine.student.chat import prompt_ids, render_prompt
    from engine.student.load import load_tokenizer

    tokenizer = load_tokenizer(hf_folder)
    model: Any = AutoModelForCausalLM.from_pretrained(str(hf_folder), dtype=torch.float32)
    model.eval()
    ids_list = [prompt_ids(tokenizer, p) for p in prompts]
    n_ctx = max(len(i) for i in ids_list) + n_new_tokens + 8
    llm = Llama(model_path=str(gguf), n_ctx=n_ctx, logits_all=True, type_k=GGML_TYPE_F32,
                type_v=GGML_TYPE_F32, n_threads=os.cpu_count(), verbose=False)
    details: list[dict[str, Any]] = []
    try:
        for prompt, ids in zip(prompts, ids_list, strict=True):
            text = render_prompt(tokenizer, prompt)
            # The vocabulary, merges and pre-tokenizer survived conversion if both split the
            # rendered text alike (BOS handling aside: that is the model's metadata).
            llama_ids = llm.tokenize(text.encode(), add_bos=False, special=True)
            plain_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            with torch.inference_mode():
                out = model.generate(torch.tensor([ids]), max_new_tokens=n_new_tokens,
                                     do_sample=False, pad_token_id=tokenizer.pad_token_id)
                seq = out[0].tolist()
                hf_lp = model(torch.tensor([seq])).logits[0].float().log_softmax(-1).numpy()
            hf_new = seq[len(ids):]
            llm.reset()  # type: ignore[no-untyped-call]
            llama_new: list[int] = []
            for tok in llm.generate(ids, top_k=1, temp=0.0, reset=True):
                if len(llama_new) == len(hf_new):
                    break
                llama_new.append(int(tok))
            llm.reset()  # type: ignore[no-untyped-call]
            llm.eval(seq)
            scores = np.asarray(llm.scores[:len(seq)], dtype=np.float64)
            ll_lp = scores - np.logaddexp.reduce(scores, axis=-1, keepdims=True)
            span = slice(len(ids) - 1, len(seq) - 1)  # positions predicting the new tokens
            diff = float(np.abs(ll_lp[span] - hf_lp[span]).max()) if hf_new else 0.0
            details.append({"prompt": text[-200:], "tokenizer_equal": list(llama_ids) == plain_ids,
                            "tokens_equal": llama_new == hf_new, "hf_tokens": hf_new,
                            "llama_tokens": llama_new, "max_abs_logprob_diff": diff})
    finally:
        llm.close()
    worst = max((d["max_abs_logprob_diff"] for d in details), default=0.0)
    tokens_equal = all(d["tokens_equal"] for d in details)
    tok_equal = all(d["tokenizer_equal"] for d in details)
    return ParityReport(tokens_equal and tok_equal and worst <= tolerance, tokens_equal,
                        tok_equal, worst, tolerance, len(details), n_new_tokens, details)


def export_gguf(base: str | Path, adapter: Path, out_dir: Path, prompts: Sequence[str], *,
                outtype: str = "f16", store: Store | None = None,
                run_id: int | None = None) -> tuple[Path, ParityReport]:
    """Merge, convert and check in one call: returns the GGUF and its parity report, which
    is stored in the GGUF artifact's meta."""
    merged = merge_adapter(base, adapter, out_dir / "merged", store=store, run_id=run_id)
    gguf = to_gguf(merged, out_dir / f"model.{outtype}.gguf", outtype=outtype)
    report = parity_check(merged, gguf, prompts, tolerance=TOLERANCE[outtype])
    if store is not None:
        runs.add_artifact(store, run_id, "gguf", gguf, {"source": str(merged), "outtype": outtype,
                                                        "parity": report.to_dict()})
    return gguf, report
