"""Token counts for the lab teacher, with the embedded student's tokenizer (SmolLM2's).

The lab teacher reports usage the way a real endpoint does, so budgets and cost curves
count real tokens: prompts are counted as SmolLM2's chat template lays them out
(``<|im_start|>role\\n...<|im_end|>\\n`` per message, then the assistant's opener), and
answers as plain text. The vocabulary is read from the bundled GGUF by llama.cpp with
``vocab_only`` (no weights, ~0.2 s), the same tokenizer the student is trained with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


class TokenCounter:
    """Counts and truncates text in SmolLM2 tokens (or the GGUF given)."""

    def __init__(self, gguf: Path | None = None) -> None:
        import llama_cpp

        if gguf is None:
            from engine.embedded import gguf_path

            gguf = gguf_path()
        from llama_cpp._utils import suppress_stdout_stderr

        # only the vocabulary is used; llama.cpp's one line about the context size is noise
        with suppress_stdout_stderr(disable=False):
            self._model = llama_cpp.Llama(model_path=str(gguf), vocab_only=True,
                                          verbose=False, n_ctx=8, n_batch=8)

    def tokens(self, text: str, special: bool = False) -> list[int]:
        return list(self._model.tokenize(text.encode(), add_bos=False, special=special))

    def count(self, text: str) -> int:
        return len(self.tokens(text))

    def prompt_tokens(self, messages: Sequence[Mapping[str, Any]]) -> int:
        """The prompt as SmolLM2's chat template (ChatML) lays it out."""
        text = "".join(f"<|im_start|>{m.get('role', 'user')}\n{m.get('content') or ''}"
                       "<|im_end|>\n" for m in messages)
        return len(self.tokens(text + "<|im_start|>assistant\n", special=True))

    def truncate(self, text: str, max_tokens: int) -> tuple[str, bool]:
        """``text`` cut to ``max_tokens`` tokens, and whether it was cut."""
        ids = self.tokens(text)
        if len(ids) <= max_tokens:
            return text, False
        cut: bytes = self._model.detokenize(ids[:max_tokens])
        return cut.decode("utf-8", errors="ignore"), True
