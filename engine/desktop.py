"""`distillab install-desktop`: a freedesktop menu entry and icon for the current user (Linux).

Writes ``$XDG_DATA_HOME/applications/distillab.desktop`` (default ``~/.local/share``) and the
scalable icon ``icons/hicolor/scalable/apps/distillab.svg`` beside it. The entry starts the
``distillab`` command of this installation (its absolute path, so it works without the venv
on PATH) with ``gui``. macOS and Windows: see docs/install.md.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from engine.errors import DistillabError
from engine.paths import ASSETS_DIR

APP_ID = "distillab"


@dataclass(frozen=True)
class DesktopFiles:
    entry: Path
    icon: Path
    exec_line: str


def xdg_data_home() -> Path:
    env = os.environ.get("XDG_DATA_HOME")
    return Path(env) if env else Path.home() / ".local" / "share"


def launcher() -> list[str]:
    """The command that starts the GUI of this installation."""
    script = Path(sys.executable).parent / "distillab"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script), "gui"]
    found = shutil.which("distillab")
    if found:
        return [str(Path(found).resolve()), "gui"]
    return [sys.executable, "-m", "engine.cli", "gui"]


def _quote(arg: str) -> str:
    """An Exec argument quoted as the Desktop Entry spec asks."""
    if not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'


def entry_text(exec_args: list[str]) -> str:
    exec_line = " ".join(_quote(a) for a in exec_args)
    return ("[Desktop Entry]\n"
            "Type=Application\n"
            "Version=1.5\n"
            "Name=Distillab\n"
            "GenericName=Reasoning distillation lab\n"
            "Comment=Reasoning-distillation experiments: teacher traces, QLoRA students, "
            "step-level comparison\n"
            f"Exec={exec_line}\n"
            f"Icon={APP_ID}\n"
            "Terminal=false\n"
            "Categories=Science;ArtificialIntelligence;Development;\n"
            "Keywords=distillation;LLM;reasoning;QLoRA;\n")


def install_desktop(data_home: Path | None = None) -> DesktopFiles:
    """Write the menu entry and icon for the current user; returns what was written."""
    if not sys.platform.startswith("linux"):
        raise DistillabError(f"install-desktop writes a freedesktop entry (Linux); this is "
                             f"{sys.platform}", "see docs/install.md for macOS and Windows")
    home = data_home or xdg_data_home()
    source = ASSETS_DIR / "icons" / f"{APP_ID}.svg"
    if not source.is_file():
        raise DistillabError(f"the icon {source} is missing from this installation",
                             "reinstall Distillab")
    icon = home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    entry = home / "applications" / f"{APP_ID}.desktop"
    args = launcher()
    icon.parent.mkdir(parents=True, exist_ok=True)
    entry.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, icon)
    entry.write_text(entry_text(args), encoding="utf-8")
    entry.chmod(0o755)
    return DesktopFiles(entry, icon, " ".join(_quote(a) for a in args))
