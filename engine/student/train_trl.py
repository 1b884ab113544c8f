"""Standalone TRL training of an exported Distillab training stage (no Distillab needed).

``distillab export N --what training --stage S`` copies this file beside ``config.json``,
the rows (``train.jsonl``, ``eval.jsonl``: TRL's prompt/completion or prompt/chosen/rejected
format) and ``launch.sh``, which runs::

    accelerate launch --config_file accelerate.yaml train_trl.py --config config.json --out output

It trains LoRA adapters with TRL's SFTTrainer or DPOTrainer and peft's LoraConfig, with the
TrainingArguments Distillab would use (``config.json`` "trl_args"), resumes from the newest
checkpoint in ``--out`` (a requeued Slurm job goes on), and saves the final adapter to
``<out>/adapter``: bring it back with ``distillab import-adapter N <out>/adapter``.
Needs torch, transformers, peft, trl, accelerate, datasets (bitsandbytes for nf4/int8).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _rows(path: Path) -> Any:
    from datasets import Dataset

    with path.open(encoding="utf-8") as fh:
        return Dataset.from_list([json.loads(line) for line in fh if line.strip()])


def _model(config: dict[str, Any], base: Path) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = config.get("quantization", "none")
    kwargs: dict[str, Any] = {}
    if torch.cuda.is_available():
        kwargs["dtype"] = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if quant == "nf4":
            kwargs["quantization_config"] = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=kwargs["dtype"])
        elif quant == "int8":
            kwargs["quantization_config"] = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
                load_in_8bit=True)
    model: Any = AutoModelForCausalLM.from_pretrained(config["base_model"], **kwargs)
    if config.get("init_adapter"):  # e.g. DPO after SFT: go on training that adapter
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(base / config["init_adapter"]),
                                          is_trainable=True)
    return model


def _last_checkpoint(out: Path) -> str | None:
    found = [p for p in out.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()
             and (p / "trainer_state.json").is_file()]
    return str(max(found, key=lambda p: int(p.name.split("-")[-1]))) if found else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("config.json"))
    parser.add_argument("--out", type=Path, default=Path("output"))
    args = parser.parse_args(argv)
    import torch
    from peft import LoraConfig
    from transformers import AutoTokenizer

    base = args.config.resolve().parent
    config = json.loads(args.config.read_text())
    trl_args = {**config["trl_args"], "output_dir": str(args.out)}
    on_cuda = torch.cuda.is_available()
    trl_args.update(bf16=on_cuda and torch.cuda.is_bf16_supported(), use_cpu=not on_cuda)
    tokenizer = AutoTokenizer.from_pretrained(config["base_model"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = _model(config, base)
    lora = config["lora"]
    peft_config = None if config.get("init_adapter") else LoraConfig(
        r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
        target_modules=lora["target_modules"], bias="none", task_type="CAUSAL_LM")
    train = _rows(base / config["train"])
    evaluation = _rows(base / config["eval"]) if config.get("eval") else None
    if not evaluation:
        for key in ("eval_strategy", "eval_steps", "load_best_model_at_end",
                    "metric_for_best_model", "greater_is_better"):
            trl_args.pop(key, None)
    if config["kind"] == "dpo":
        from trl.trainer.dpo_config import DPOConfig
        from trl.trainer.dpo_trainer import DPOTrainer

        trainer: Any = DPOTrainer(model=model, args=DPOConfig(**trl_args, beta=config["beta"]),
                                  train_dataset=train, eval_dataset=evaluation,
                                  processing_class=tokenizer, peft_config=peft_config)
    else:
        from trl.trainer.sft_config import SFTConfig
        from trl.trainer.sft_trainer import SFTTrainer

        trainer = SFTTrainer(model=model,
                             args=SFTConfig(**trl_args, completion_only_loss=True,
                                            packing=config.get("packing", False)),
                             train_dataset=train, eval_dataset=evaluation,
                             processing_class=tokenizer, peft_config=peft_config)
    trainer.train(resume_from_checkpoint=_last_checkpoint(args.out))
    if trainer.is_world_process_zero():
        trainer.model.save_pretrained(args.out / "adapter")
        tokenizer.save_pretrained(args.out / "adapter")
        print(f"adapter saved to {args.out / 'adapter'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
