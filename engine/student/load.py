"""Loading a student model: a Hugging Face id or local folder, 4-bit/8-bit/full precision, with LoRA.

``load_student(spec, for_training=..., adapter=...)`` returns ``(model, tokenizer)``.
nf4 is QLoRA's quantisation (4-bit NormalFloat with double quantisation through
bitsandbytes); its compute dtype is bf16 on CUDA and fp32 on CPU (bitsandbytes runs 4-bit on
CPU too, slowly: that is how the tests exercise this path). Training gets fresh LoRA
adapters from the recipe, or continues a saved adapter; inference gets the base model, or
the base with a saved adapter. The tokenizer always has a pad token and a chat template
(``engine.student.chat.ensure_chat_template`` warns when it had to supply one).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import DistillabError
from engine.recipes import LoraSpec, StudentSpec

if TYPE_CHECKING:
    import torch


def resolve_model(name: str) -> str:
    """The path or hub id that ``from_pretrained`` gets: 'embedded' is SmolLM2's converted folder."""
    if name == "embedded":
        from engine.embedded import embedded_model

        return str(embedded_model().hf_dir)
    return name


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def compute_dtype() -> torch.dtype:
    """bf16 where the GPU supports it (QLoRA's choice), else fp32 (CPU matmuls are fp32 anyway)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def quantization_config(quantization: str) -> Any:
    """A ``BitsAndBytesConfig`` for nf4 / int8, or None for full precision."""
    from transformers import BitsAndBytesConfig

    if quantization == "nf4":
        return BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                  bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=compute_dtype())
    if quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)  # type: ignore[no-untyped-call]
    return None


def lora_config(spec: LoraSpec) -> Any:
    from peft import LoraConfig

    targets: list[str] | str = spec.target_modules
    return LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM")


def load_tokenizer(path: str | Path) -> Any:
    """The model's tokenizer with a pad token and a chat template (see ``ensure_chat_template``)."""
    from transformers import AutoTokenizer

    from engine.student.chat import ensure_chat_template

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    warning = ensure_chat_template(tokenizer)
    if warning:
        warnings.warn(warning, stacklevel=2)
    return tokenizer


def _from_pretrained(path: str, quantization: str) -> Any:
    from transformers import AutoConfig, AutoModelForCausalLM

    qc = quantization_config(quantization)
    kwargs: dict[str, Any] = {"dtype": compute_dtype()}
    config = AutoConfig.from_pretrained(path)
    stale = getattr(config, "quantization_config", None)
    if isinstance(stale, dict) and stale.get("quant_method") == "gguf":
        # A folder converted from a GGUF holds dequantised weights but keeps the GGUF's
        # quantization_config (the embedded model's does), which bitsandbytes refuses.
        del config.quantization_config
        kwargs["config"] = config
    if qc is not None:
        kwargs["quantization_config"] = qc
        # bitsandbytes quantises while placing the weights: put them where they will run.
        kwargs["device_map"] = {"": device()}
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as exc:
        raise DistillabError(
            f"cannot load the student model {path!r}: {exc}",
            "give a Hugging Face model id (e.g. Qwen/Qwen2.5-0.5B-Instruct), a local folder with "
            "config.json and weights, or 'embedded'") from None
    if qc is None:
        model.to(device())
    elif device() == "cpu" and quantization == "nf4":
        _keep_cpu_4bit_exact(model)
    return model


def _keep_cpu_4bit_exact(model: Any) -> None:
    """Turn off bitsandbytes' CPU inference repacking of 4-bit weights.

    On a CPU with AVX512-BF16, an eval-mode no-grad forward repacks each 4-bit weight with
    bf16 block scales, and packing back is lossy (dequantised weights move by up to ~1e-2):
    one validation pass would silently alter the frozen base. Off, nf4 on CPU stays exactly
    what the GPU computes.
    """
    from bitsandbytes.nn.modules import Linear4bit

    for module in model.modules():
        if isinstance(module, Linear4bit):
            module.support_avx512bf16_for_cpu = False


def load_student(spec: StudentSpec, *, for_training: bool,
                 adapter: Path | None = None) -> tuple[Any, Any]:
    """Load the student (quantised as the spec says), with LoRA for training or a saved adapter.

    for_training: LoRA adapters from ``spec.lora`` (or ``adapter``, trainable) on a frozen
    base. Otherwise: eval mode, with ``adapter`` applied when given.
    """
    from engine.quiet import quiet_libraries

    quiet_libraries()
    from peft import PeftModel, get_peft_model

    path = resolve_model(spec.model)
    tokenizer = load_tokenizer(adapter if adapter is not None and
                               (Path(adapter) / "tokenizer_config.json").is_file() else path)
    model = _from_pretrained(path, spec.quantization)
    if for_training and spec.gradient_checkpointing:
        # Checkpointing itself is switched on by the Trainer (``gradient_checkpointing`` in
        # its config); the frozen embeddings give no grad to checkpointed blocks unless the
        # inputs ask for one.
        model.enable_input_require_grads()
    if adapter is not None:
        # The adapter's own dtype is kept (TRL trains QLoRA adapters in bf16), so a reloaded
        # adapter computes exactly what the trained one did.
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=for_training,
                                          autocast_adapter_dtype=False)
    elif for_training:
        model = get_peft_model(model, lora_config(spec.lora))
    if not for_training:
        model.eval()
    return model, tokenizer


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts; a 4-bit weight counts as its unpacked size."""
    trainable = total = 0
    for p in model.parameters():
        n = p.numel()
        # bitsandbytes packs two 4-bit values per uint8 element.
        if getattr(p, "quant_state", None) is not None:
            n *= 2
        total += n
        if p.requires_grad:
            trainable += n
    return trainable, total
