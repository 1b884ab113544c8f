"""The machine's load while a job runs: CPU and RAM (psutil), GPU utilisation and memory
(nvidia-ml-py, where it is installed and a GPU answers).

``system_stats()`` returns only what it could read: no GPU library or no GPU gives no
``gpu_*`` keys (the Run monitor then hides the GPU curves), never an error. Names are the
metric names a training stage stores under its prefix (``train/cpu_percent``...).
"""

from __future__ import annotations

from typing import Any

GIB = 1024 ** 3
_nvml: Any = None  # the pynvml module once initialised; False when unavailable


def _gpu() -> Any:
    global _nvml
    if _nvml is None:
        try:
            import pynvml  # nvidia-ml-py

            pynvml.nvmlInit()
            _nvml = pynvml
        except Exception:  # not installed, no driver, no GPU: no GPU curves
            _nvml = False
    return _nvml


def system_stats() -> dict[str, float]:
    """cpu_percent (all cores, since the last call), ram_used_gb, ram_percent; with a GPU
    also gpu_util_percent, gpu_mem_gb and gpu_mem_percent (summed over the visible GPUs)."""
    out: dict[str, float] = {}
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        out["cpu_percent"] = float(psutil.cpu_percent(interval=None))
        mem = psutil.virtual_memory()
        out["ram_used_gb"] = (mem.total - mem.available) / GIB
        out["ram_percent"] = float(mem.percent)
    nvml = _gpu()
    if nvml:
        try:
            handles = [nvml.nvmlDeviceGetHandleByIndex(i)
                       for i in range(nvml.nvmlDeviceGetCount())]
            if handles:
                util = [nvml.nvmlDeviceGetUtilizationRates(h).gpu for h in handles]
                out["gpu_util_percent"] = float(sum(util) / len(util))
                mems = [nvml.nvmlDeviceGetMemoryInfo(h) for h in handles]
                out["gpu_mem_gb"] = sum(m.used for m in mems) / GIB
                out["gpu_mem_percent"] = 100.0 * sum(m.used for m in mems) / sum(
                    m.total for m in mems)
        except Exception:  # a GPU that stops answering mid-run: drop the GPU curves
            pass
    return out
