"""Prompts and training examples as the student sees them: chat template, tokens, loss mask.

``encode_example`` is the one tokenisation of an SFT example that training uses; it
follows TRL's rules for prompt/completion data (chat prompt rendered with the generation
prompt; plain-text completion followed by EOS; the completion starts where the prompt's
tokens and the full sequence's tokens diverge, which handles a BPE merge across the
boundary). ``render_example`` shows the same tokens split into trained and masked runs,
so a wrong loss mask is visible in the GUI. Knows nothing of models or training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Prompt = str | list[dict[str, str]]

# Used only when a tokenizer has none (base models): plain "role: content" turns. A model
# never trained on it will not follow it well, which is why ensure_chat_template warns.
FALLBACK_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}"
)


def ensure_chat_template(tokenizer: Any) -> str | None:
    """Give a tokenizer without a chat template the plain fallback; return a warning if so."""
    if getattr(tokenizer, "chat_template", None):
        return None
    tokenizer.chat_template = FALLBACK_TEMPLATE
    name = getattr(tokenizer, "name_or_path", "") or "the student"
    return (f"{name} has no chat template (a base model?): chat prompts are rendered as plain "
            "'role: content' lines, which the model has never seen. Prefer an -Instruct model, "
            "or give prompts as plain strings.")


def render_prompt(tokenizer: Any, prompt: Prompt) -> str:
    """The text the model continues: a chat prompt with the generation prompt, or the string."""
    if isinstance(prompt, str):
        return prompt
    text: str = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return text


def prompt_ids(tokenizer: Any, prompt: Prompt) -> list[int]:
    """Token ids of a prompt exactly as training encodes the prompt part of an example."""
    if isinstance(prompt, str):
        return list(tokenizer(text=prompt)["input_ids"])
    out = tokenizer.apply_chat_template(prompt, tokenize=True, return_dict=True,
                                        add_generation_prompt=True)
    return list(out["input_ids"])


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclass(frozen=True)
class Encoded:
    """One SFT example: token ids and 1 where the token is trained (part of the completion)."""

    input_ids: list[int]
    completion_mask: list[int]


def encode_example(tokenizer: Any, prompt: Prompt, completion: str,
                   max_length: int | None = None) -> Encoded:
    """Tokenise prompt + completion and mark the completion's tokens (TRL's rules; see module doc)."""
    first = prompt_ids(tokenizer, prompt)
    if isinstance(prompt, str):
        eos = tokenizer.eos_token or ""
        full_text = prompt + completion
        if eos and not full_text.endswith(eos):
            full_text += eos
        full = list(tokenizer(text=full_text)["input_ids"])
    else:
        messages = [*prompt, {"role": "assistant", "content": completion}]
        full = list(tokenizer.apply_chat_template(messages, tokenize=True,
                                                  return_dict=True)["input_ids"])
    n_prompt = _common_prefix(first, full)
    mask = [0] * n_prompt + [1] * (len(full) - n_prompt)
    if max_length is not None:  # keep the start, as TRL's default truncation does
        full, mask = full[:max_length], mask[:max_length]
    return Encoded(full, mask)


@dataclass(frozen=True)
class Segment:
    """A run of tokens, all trained or all masked, with its text."""

    text: str
    trained: bool
    n_tokens: int


def render_example(tokenizer: Any, prompt: Prompt, completion: str,
                   max_length: int | None = None) -> list[Segment]:
    """The tokens training sees, grouped into trained / masked runs (for the GUI and the CLI)."""
    enc = encode_example(tokenizer, prompt, completion, max_length)
    segments: list[Segment] = []
    start = 0
    for i in range(1, len(enc.input_ids) + 1):
        if i == len(enc.input_ids) or enc.completion_mask[i] != enc.completion_mask[start]:
            ids = enc.input_ids[start:i]
            segments.append(Segment(tokenizer.decode(ids), bool(enc.completion_mask[start]),
                                    len(ids)))
            start = i
    return segments


def marked_text(segments: list[Segment]) -> str:
    """Plain-text view: masked text as is, trained text inside ⟦ ⟧."""
    return "".join(f"⟦{s.text}⟧" if s.trained else s.text for s in segments)
