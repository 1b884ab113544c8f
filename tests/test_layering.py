"""The engine never imports Qt or the GUI; the GUI imports no model library at module level."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT

ENGINE_MODULES = [p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
                  for p in (ROOT / "engine").rglob("*.py") if p.name != "__main__.py"]


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    import json

    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_every_engine_module_loads_no_qt_and_no_gui():
    modules = ENGINE_MODULES
    assert "engine.runner" in modules and "engine.cli" in modules
    loaded = _loaded_after("\n".join(f"import {m}" for m in modules))
    assert not {m for m in loaded if m.startswith(("PySide6", "shiboken6", "gui"))}


def test_engine_import_fails_loudly_if_it_ever_needs_qt():
    """With PySide6 made unimportable, the whole engine still imports."""
    blocker = ("import sys\nclass B:\n  def find_spec(self, name, path=None, target=None):\n"
               "    if name.split('.')[0] in ('PySide6', 'gui'):\n"
               "      raise ImportError('blocked: ' + name)\n"
               "sys.meta_path.insert(0, B())\n")
    _loaded_after(blocker + "\n".join(f"import {m}" for m in ENGINE_MODULES))


def test_gui_imports_no_model_library_until_a_job_starts():
    loaded = _loaded_after("import gui.app")
    heavy = {"torch", "transformers", "peft", "trl", "bitsandbytes", "llama_cpp"}
    assert not heavy & {m.split(".")[0] for m in loaded}
