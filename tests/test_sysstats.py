"""Machine-load metrics: CPU/RAM always; GPU keys only when nvidia-ml-py reads a GPU. No GPU
exists here, so the GPU branch runs against a stand-in pynvml module (the one mock: the
hardware)."""

from __future__ import annotations

import sys
import types

import pytest

from engine import sysstats

GIB = 1024 ** 3


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    monkeypatch.setattr(sysstats, "_nvml", None)


def test_without_a_gpu_library_only_cpu_and_ram(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails as when not installed
    stats = sysstats.system_stats()
    assert set(stats) == {"cpu_percent", "ram_used_gb", "ram_percent"}
    assert stats["ram_used_gb"] > 0 and 0 < stats["ram_percent"] <= 100


def _fake_nvml(util: list[int], used: list[int], total: list[int], fail_init: bool = False):
    mod = types.ModuleType("pynvml")

    def init():
        if fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    mod.nvmlInit = init
    mod.nvmlDeviceGetCount = lambda: len(util)
    mod.nvmlDeviceGetHandleByIndex = lambda i: i
    mod.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=util[h])
    mod.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=used[h], total=total[h])
    return mod


def test_gpu_utilisation_and_memory_over_the_visible_gpus(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml",
                        _fake_nvml([30, 90], [10 * GIB, 30 * GIB], [80 * GIB, 80 * GIB]))
    stats = sysstats.system_stats()
    assert stats["gpu_util_percent"] == 60.0
    assert stats["gpu_mem_gb"] == 40.0 and stats["gpu_mem_percent"] == 25.0


def test_a_driver_that_does_not_answer_hides_the_gpu(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml([1], [1], [1], fail_init=True))
    assert not any(k.startswith("gpu_") for k in sysstats.system_stats())
