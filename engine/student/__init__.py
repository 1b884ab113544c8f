"""The student side: load (4-bit QLoRA), sample, score (log-probs/PPL), train (TRL SFT/DPO), export.

Each module is a set of plain functions that a paradigm stage calls with plain callbacks
for progress and metrics; none of them knows about the runner, the GUI or Qt. Heavy
libraries (torch, transformers, peft, trl, llama_cpp) are imported inside functions, so
importing this package is cheap.

- ``load``: ``load_student(spec, for_training=..., adapter=...) -> (model, tokenizer)``
- ``chat``: prompt rendering, the tokenisation of one training example, and a view of
  it with trained vs masked tokens marked
- ``sample``: batched k-samples per prompt (transformers, or llama.cpp on a GGUF)
- ``score``: per-token log-probabilities of a target given a prefix; PPL with clipping
- ``train``: ``train_sft`` / ``train_dpo`` with resume, cancel, OOM back-off
- ``launch`` / ``worker``: the same training under ``accelerate launch`` in a child
  process group (``training.launcher: accelerate``); ``train_trl``: the standalone TRL
  script a cluster export ships (``engine.cluster``)
- ``memory``: a pre-flight peak-VRAM estimate
- ``export``: adapter, merge, GGUF conversion and a transformers-vs-llama.cpp parity check
"""

from engine.student.chat import Segment, encode_example, marked_text, render_example, render_prompt
from engine.student.export import (
    ParityReport,
    export_gguf,
    merge_adapter,
    parity_check,
    save_adapter,
    to_gguf,
)
from engine.student.load import load_student
from engine.student.memory import (
    Estimate,
    estimate_for_student,
    estimate_memory,
    free_gpu_memory,
    memory_warning,
)
from engine.student.sample import Sample, sample, sample_gguf
from engine.student.score import TargetScore, perplexity, score
from engine.student.train import TrainResult, train_dpo, train_sft

__all__ = [
    "Estimate", "ParityReport", "Sample", "Segment", "TargetScore", "TrainResult",
    "encode_example", "estimate_for_student", "estimate_memory", "export_gguf",
    "free_gpu_memory", "load_student", "marked_text", "memory_warning", "merge_adapter",
    "parity_check", "perplexity", "render_example", "render_prompt", "sample", "sample_gguf",
    "save_adapter", "score", "to_gguf", "train_dpo", "train_sft",
]
