"""Pre-flight estimate of peak GPU memory for LoRA/QLoRA training, and the GPU's free memory.

An estimate, not a measurement: weights at their stored width, LoRA parameters with their
gradients and AdamW state, activations (with or without gradient checkpointing), TRL's
tiled LM-head log-probs, and a fixed CUDA overhead. It errs high rather than low; the
warning it drives says which knob to turn. Torch and transformers are imported only
by the functions that read the GPU or a model config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GIB = 1024**3
# bitsandbytes nf4: 4 bits per weight + one absmax per 64-weight block, double-quantised
# to 8 bits with one fp32 constant per 256 blocks: 4 + 8/64 + 32/(64*256) = 4.127 bits.
NF4_BYTES = 4.127 / 8
WEIGHT_BYTES = {"nf4": NF4_BYTES, "int8": 1.0 + 4 / 4096, "none": 2.0}  # int8: + row scales
# A LoRA parameter: bf16 weight + bf16 grad + two fp32 AdamW moments (+ slack for a fp32 copy).
LORA_BYTES = 2 + 2 + 8 + 4
# Activations kept per token per layer, in units of hidden size, for a bf16 transformer block
# with a fused (flash/SDPA) attention: ~34 * hidden bytes (Korthikanti et al. 2022, the
# 5*a*s/h attention-score term dropped because SDPA does not store scores).
ACT_PER_TOKEN_LAYER = 34
# TRL's fused LM head projects 4096 tokens x 32768 vocabulary entries per tile (fp32 here).
LOGITS_TILE = 4096 * 32768 * 4
CUDA_OVERHEAD = int(0.75 * GIB)  # context + cuBLAS workspaces
FRAGMENTATION = 1.10  # the caching allocator never packs perfectly


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs from a model config."""

    n_params: int
    hidden: int
    layers: int
    vocab: int
    intermediate: int
    kv_dim: int
    tied_embeddings: bool


@dataclass(frozen=True)
class Estimate:
    total_bytes: int
    breakdown: dict[str, int]

    @property
    def total_gib(self) -> float:
        return self.total_bytes / GIB

    def describe(self) -> str:
        parts = ", ".join(f"{k} {v / GIB:.2f}" for k, v in self.breakdown.items())
        return f"estimated peak {self.total_gib:.2f} GiB ({parts} GiB)"


def shape_from_config(config: Any) -> ModelShape:
    """A ``ModelShape`` from a transformers config of a decoder-only (Llama/Qwen/Mistral-like) model."""
    h, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    inter = getattr(config, "intermediate_size", 4 * h)
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or h // heads
    kv = kv_heads * head_dim
    tied = bool(getattr(config, "tie_word_embeddings", False))
    per_layer = h * heads * head_dim * 2 + h * kv * 2 + 3 * h * inter + 2 * h
    n = vocab * h * (1 if tied else 2) + layers * per_layer + h
    return ModelShape(n, h, layers, vocab, inter, kv, tied)


def lora_params(shape: ModelShape, r: int, target_modules: list[str] | str = "all-linear") -> int:
    """LoRA parameters: r * (in + out) for every adapted projection of every layer."""
    h, i, kv = shape.hidden, shape.intermediate, shape.kv_dim
    sizes = {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
             "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}
    names = list(sizes) if target_modules == "all-linear" else \
        [m for m in target_modules if m in sizes]
    return shape.layers * sum(r * (sizes[m][0] + sizes[m][1]) for m in names)


def estimate_memory(shape: ModelShape, *, quantization: str, lora_r: int, seq_len: int, batch: int,
                    target_modules: list[str] | str = "all-linear",
                    gradient_checkpointing: bool = True) -> Estimate:
    """Peak training memory in bytes, with a per-component breakdown."""
    embed = shape.vocab * shape.hidden * (1 if shape.tied_embeddings else 2)
    # bitsandbytes quantises the linear layers; embeddings and the LM head stay bf16.
    weights = int((shape.n_params - embed) * WEIGHT_BYTES[quantization] + embed * 2)
    lora = lora_params(shape, lora_r, target_modules) * LORA_BYTES
    tokens = batch * seq_len
    layer_acts = tokens * shape.hidden * ACT_PER_TOKEN_LAYER
    if gradient_checkpointing:
        # Each layer's bf16 input is kept; one layer's activations live during recompute.
        acts = tokens * shape.hidden * 2 * shape.layers + layer_acts
    else:
        acts = layer_acts * shape.layers
    logits = min(tokens * min(shape.vocab, 32768) * 4, LOGITS_TILE)
    breakdown = {"weights": weights, "lora+optimizer": lora, "activations": acts,
                 "lm-head tile": logits, "cuda overhead": CUDA_OVERHEAD}
    total = int((weights + lora + acts + logits) * FRAGMENTATION) + CUDA_OVERHEAD
    return Estimate(total, breakdown)


def free_gpu_memory() -> int | None:
    """Free bytes on the current CUDA device, or None without a GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    free, _total = torch.cuda.mem_get_info()
    return int(free)


def memory_warning(estimate: Estimate, free: int | None, *, batch: int) -> str | None:
    """A clear warning when the estimate exceeds the free GPU memory, else None."""
    if free is None or estimate.total_bytes <= free:
        return None
    biggest = max(estimate.breakdown, key=lambda k: estimate.breakdown[k])
    fixes = {"weights": "use quantization: nf4, or a smaller student",
             "activations": f"lower training.batch_size ({batch}; raise grad_accum to keep the "
                            "effective batch) or student.max_length, and keep gradient "
                            "checkpointing on",
             "lora+optimizer": "lower lora.r or adapt fewer target_modules",
             "lm-head tile": "lower training.batch_size or student.max_length",
             "cuda overhead": "free the GPU from other programs"}
    return (f"{estimate.describe()} exceeds the {free / GIB:.2f} GiB free on the GPU; the "
            f"largest part is {biggest}: {fixes[biggest]}. Training may run out of memory "
            "(it would then halve the micro-batch and retry).")


def estimate_for_student(model_path: str, *, quantization: str, lora_r: int, seq_len: int,
                         batch: int, target_modules: list[str] | str = "all-linear",
                         gradient_checkpointing: bool = True) -> Estimate:
    """The estimate for a model folder or hub id, reading only its config."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_path)
    return estimate_memory(shape_from_config(config), quantization=quantization, lora_r=lora_r,
                           seq_len=seq_len, batch=batch, target_modules=target_modules,
                           gradient_checkpointing=gradient_checkpointing)
