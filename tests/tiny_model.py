"""A tiny Llama-architecture model with a locally trained tokenizer, for the student tests.

No weights come from the hub: the tokenizer is a byte-level BPE trained here with the
`tokenizers` library (GPT-2 regex pre-tokenizer, so llama.cpp's "gpt-2" pre-tokenizer
reproduces it and GGUF conversion works), the model is a random init from a config.
``ensure_tiny_model(root)`` builds it once into ``root / "tiny-llama"`` and reuses it;
tests pass the session-shared models folder, so the whole session builds it once.
"""

from __future__ import annotations

import json
from pathlib import Path

NAME = "tiny-llama"
# ChatML, as SmolLM2 and Qwen use: the eos of an assistant turn is <|im_end|>.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _corpus() -> list[str]:
    words = ("the a is of and to in what how many plus minus times equals answer question think "
             "step first then so we add multiply number apples pears has gives left total "
             "yes no because therefore user assistant system you are helpful").split()
    lines = []
    for i in range(200):
        a, b = i % 17, (i * 7) % 13
        lines.append(f"What is {a} plus {b}? We add {a} and {b}, so the answer is {a + b}.")
        lines.append(f"{a} times {b} equals {a * b}. Therefore the total is {a * b}.")
        lines.append(" ".join(words[(i + k) % len(words)] for k in range(12)))
    return lines


def build_tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=448, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(_corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                   eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)


def build_model(folder: Path, vocab_size: int, eos_id: int, bos_id: int, pad_id: int) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=bos_id,
        eos_token_id=eos_id, pad_token_id=pad_id,
        # A wide init gives peaked next-token distributions: greedy decoding then has no
        # near-ties, so llama.cpp and transformers pick the same tokens (parity test).
        initializer_range=0.25)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=bos_id, eos_token_id=eos_id,
                                               pad_token_id=pad_id)
    model.save_pretrained(folder)


def ensure_tiny_model(root: Path) -> Path:
    """The tiny model's folder under ``root``, built on first use (about a second)."""
    folder = root / NAME
    if (folder / "config.json").is_file():
        return folder
    tmp = root / (NAME + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    build_tokenizer(tmp)
    vocab = json.loads((tmp / "tokenizer.json").read_text())
    ids = {t["content"]: t["id"] for t in vocab["added_tokens"]}
    size = len(vocab["model"]["vocab"])
    build_model(tmp, size, eos_id=ids["<|im_end|>"], bos_id=ids["<|endoftext|>"],
                pad_id=ids["<|endoftext|>"])
    tmp.rename(folder)
    return folder


def sft_rows(n: int = 16, chat: bool = True) -> list[dict]:
    """Small arithmetic prompt/completion rows the tiny tokenizer knows well."""
    rows = []
    for i in range(n):
        q = f"What is {i % 9} plus {i % 7}?"
        rows.append({"prompt": [{"role": "user", "content": q}] if chat else q + " ",
                     "completion": f"We add {i % 9} and {i % 7}, so the answer is {i % 9 + i % 7}."})
    return rows


def dpo_rows(n: int = 12) -> list[dict]:
    rows = []
    for i in range(n):
        a, b = i % 9, i % 7
        rows.append({"prompt": [{"role": "user", "content": f"What is {a} plus {b}?"}],
                     "chosen": f"The answer is {a + b}.",
                     "rejected": f"no because {a * b} times the total"})
    return rows
