"""QLoRA SFT throughput: Distillab's engine (engine.student.train.train_sft) vs a plain TRL script.

Same model, data, LoRA, quantisation and optimiser settings; each measurement runs in its
own subprocess (so peak memory is per run and nothing is cached between them), and the two
alternate, repeated, to spread machine noise evenly. tokens/s = trained-on tokens (TRL's
non-padding `num_tokens`) / `train_runtime` of the training loop; model loading and data
preparation are outside the timing for both.

    python bench/train_throughput.py                      # CPU, the tiny test model
    python bench/train_throughput.py --model embedded     # CPU, SmolLM2-135M
    python bench/train_throughput.py --model qwen2.5-1.5b --device cuda --batch 8 --seq 1024
                                                          # GPU, random-init Qwen2.5-1.5B

Last line: ``train_speed_vs_trl: <ours/baseline>`` (median tokens/s ratio).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Qwen2.5-1.5B's architecture (config.json of Qwen/Qwen2.5-1.5B-Instruct), random init.
QWEN_15B = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_size=1536,
                intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
                rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
                hidden_act="silu")
# Dense bf16 peak FLOP/s for MFU.
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "4090": 165e12}


def _model_dir(name: str, cache: Path) -> str:
    if name == "tiny":
        from tests.tiny_model import ensure_tiny_model

        return str(ensure_tiny_model(cache))
    if name == "qwen2.5-1.5b":
        folder = cache / "qwen2.5-1.5b-random"
        if not (folder / "config.json").is_file():
            import torch
            from transformers import AutoModelForCausalLM, Qwen2Config

            from tests.tiny_model import build_tokenizer

            build_tokenizer(folder)  # any tokenizer will do for speed: ids stay < vocab
            model = AutoModelForCausalLM.from_config(Qwen2Config(**QWEN_15B), dtype=torch.bfloat16)
            model.save_pretrained(folder)
        return str(folder)
    return name


def _rows(n: int, seq: int) -> list[dict]:
    """Prompt/completion rows of varied length, up to about `seq` tokens of the tiny vocabulary."""
    rows = []
    for i in range(n):
        a, b = i % 17, (i * 7) % 13
        words = max(4, (seq // 3) * (50 + (i * 37) % 50) // 100)
        body = " ".join(f"we add {a} and {b}" for _ in range(words // 5))
        rows.append({"prompt": [{"role": "user", "content": f"What is {a} plus {b}? Think."}],
                     "completion": f"{body} so the answer is {a + b}."})
    return rows


def _settings(args: argparse.Namespace):
    from engine.recipes import LoraSpec, StudentSpec, TrainingSpec

    student = StudentSpec(model=args.model_dir, quantization=args.quantization,
                          max_length=args.seq, lora=LoraSpec(r=16, alpha=32, dropout=0.05))
    training = TrainingSpec(max_steps=args.steps, batch_size=args.batch, grad_accum=1,
                            learning_rate=2e-4, warmup_ratio=0.0, logging_steps=1,
                            save_steps=10_000, packing=args.packing)
    return student, training


def worker_ours(args: argparse.Namespace, out: Path) -> dict:
    from engine.student.train import train_sft

    student, training = _settings(args)
    result = train_sft(_rows(args.rows, args.seq), student=student, training=training,
                       out_dir=out, seed=0)
    return {"tokens": result.metrics["num_tokens"], "runtime": result.metrics["train_runtime"]}


def worker_trl(args: argparse.Namespace, out: Path) -> dict:
    """What a user would write with TRL alone, with the same settings."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
    from trl import SFTConfig, SFTTrainer

    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda else torch.float32
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                               bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype)
    kwargs = {"quantization_config": quant, "device_map": {"": "cuda" if cuda else "cpu"}} \
        if args.quantization == "nf4" else {}
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=dtype, **kwargs)
    tok = AutoTokenizer.from_pretrained(args.model_dir)
    rows = _rows(args.rows, args.seq)
    data = Dataset.from_dict({"prompt": [r["prompt"] for r in rows],
                              "completion": [[{"role": "assistant", "content": r["completion"]}]
                                             for r in rows]})
    config = SFTConfig(output_dir=str(out), per_device_train_batch_size=args.batch,
                       gradient_accumulation_steps=1, learning_rate=2e-4, max_steps=args.steps,
                       lr_scheduler_type="cosine", max_grad_norm=0.3, logging_steps=1,
                       save_steps=10_000, report_to=[], disable_tqdm=True, seed=0,
                       gradient_checkpointing=True, max_length=args.seq, packing=args.packing,
                       bf16=cuda, use_cpu=not cuda)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tok,
                         peft_config=lora)
    stats = trainer.train()
    tokens = max(e.get("num_tokens", 0) for e in trainer.state.log_history)
    return {"tokens": float(tokens), "runtime": float(stats.metrics["train_runtime"])}


def _peak_memory() -> dict:
    import resource

    import torch

    out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        out["peak_vram_mib"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu"] = torch.cuda.get_device_name()
    return out


def _run(kind: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, __file__, "--worker", kind, "--model-dir", args.model_dir,
               "--steps", str(args.steps), "--batch", str(args.batch), "--seq", str(args.seq),
               "--rows", str(args.rows), "--quantization", args.quantization, "--out", tmp]
        cmd += ["--packing"] if args.packing else []
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0")}
        if args.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        if done.returncode != 0:
            sys.exit(f"{kind} run failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="tiny", help="tiny | embedded | qwen2.5-1.5b | a folder")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--quantization", default="nf4", choices=["nf4", "none"])
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=256)
    p.add_argument("--rows", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--packing", action="store_true", help="also measure ours with packing")
    p.add_argument("--worker", choices=["ours", "trl"], help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        import contextlib

        with contextlib.redirect_stdout(sys.stderr):  # keep stdout for the one JSON line
            res = (worker_ours if args.worker == "ours" else worker_trl)(args, Path(args.out))
        print(json.dumps({**res, **_peak_memory()}))
        return

    args.model_dir = _model_dir(args.model, Path(tempfile.gettempdir()) / "distillab-bench-models")
    print(f"model {args.model} ({args.model_dir}), {args.quantization}, device {args.device}, "
          f"batch {args.batch}, max_length {args.seq}, {args.steps} steps, {args.repeats} repeats")
    results: dict[str, list[dict]] = {"ours": [], "trl": []}
    packing = args.packing
    args.packing = False
    for rep in range(args.repeats):
        order = ("ours", "trl") if rep % 2 == 0 else ("trl", "ours")  # alternate who goes first
        for kind in order:
            t0 = time.monotonic()
            r = _run(kind, args)
            r["tps"] = r["tokens"] / r["runtime"]
            results[kind].append(r)
            print(f"  {kind:5s} rep {rep}: {r['tps']:9.1f} tokens/s ({r['tokens']:.0f} tokens), peak RSS "
                  f"{r['peak_rss_mib']:.0f} MiB" + (f", peak VRAM {r['peak_vram_mib']:.0f} MiB"
                                                   if "peak_vram_mib" in r else "")
                  + f" ({time.monotonic() - t0:.0f} s with start-up)")
    med = {k: statistics.median(r["tps"] for r in v) for k, v in results.items()}
    for kind in ("ours", "trl"):
        mem = max(r["peak_rss_mib"] for r in results[kind])
        print(f"{kind}: median {med[kind]:.1f} tokens/s, peak RSS {mem:.0f} MiB")
    gpu = results["ours"][0].get("gpu")
    if gpu:
        from transformers import AutoConfig

        from engine.student.memory import shape_from_config

        n = shape_from_config(AutoConfig.from_pretrained(args.model_dir)).n_params
        peak = next((v for k, v in PEAK_FLOPS.items() if k in gpu), None)
        if peak:  # 6 N FLOPs per token (forward + backward), the usual MFU convention
            print(f"MFU (6N convention, {gpu}): ours {6 * n * med['ours'] / peak:.1%}, "
                  f"trl {6 * n * med['trl'] / peak:.1%}")
        print(f"peak VRAM: ours {max(r['peak_vram_mib'] for r in results['ours']):.0f} MiB, "
              f"trl {max(r['peak_vram_mib'] for r in results['trl']):.0f} MiB")
    if packing:
        args.packing = True
        packed = [_run("ours", args) for _ in range(args.repeats)]
        tps = statistics.median(r["tokens"] / r["runtime"] for r in packed)
        print(f"ours + packing: median {tps:.1f} tokens/s ({tps / med['trl']:.2f}x plain TRL)")
    print(f"train_speed_vs_trl: {med['ours'] / med['trl']:.3f}")


if __name__ == "__main__":
    main()
