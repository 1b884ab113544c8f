"""The shipped recipes: list them, and give the user an editable copy with its prompts and data.

The shipped folder is the checkout's ``recipes/`` or, in an installed wheel, the package data
(``engine.paths.RECIPES_DIR``). ``copy_recipe`` writes ``NAME.yaml`` into a folder of the
user's, with every prompt template it can use (its paradigm's ``prompts/<paradigm>/`` folder
and any other ``prompts/...j2`` it names) and the bundled data file it reads (into
``data/``, its path in the copy rewritten to match), then validates the copy: the copy runs
from there and nothing in it points back into the installation.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from engine.errors import DistillabError
from engine.paths import ASSETS_DIR, RECIPES_DIR

_TEMPLATE = re.compile(r"prompts/[\w./-]+?\.j2")


@dataclass(frozen=True)
class ShippedRecipe:
    name: str  # the file name without .yaml
    path: Path
    paradigm: str
    description: str


def shipped_recipes(folder: Path | None = None) -> list[ShippedRecipe]:
    """Every recipe in the shipped folder (studies are in ``studies/``), sorted by name."""
    folder = folder or RECIPES_DIR
    out = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            data = {}
        data = data if isinstance(data, dict) else {}
        out.append(ShippedRecipe(path.stem, path, str(data.get("paradigm", "?")),
                                 str(data.get("description", "")).strip()))
    return out


def find_shipped(name: str) -> ShippedRecipe:
    """A shipped recipe by name (``cot-demo`` or ``cot-demo.yaml``); a clear error if unknown."""
    stem = name.removesuffix(".yaml")
    for recipe in shipped_recipes():
        if recipe.name == stem:
            return recipe
    names = ", ".join(r.name for r in shipped_recipes())
    raise DistillabError(f"no shipped recipe named {name!r}", f"use one of: {names}")


@dataclass(frozen=True)
class CopiedRecipe:
    recipe: Path
    files: list[Path]  # everything written, the recipe first


def copy_recipe(name: str, dest: Path, *, overwrite: bool = False) -> CopiedRecipe:
    """Copy a shipped recipe with its prompts and bundled data into ``dest``; validate it."""
    from engine.validate import load_recipe

    shipped = find_shipped(name)
    text = shipped.path.read_text(encoding="utf-8")
    dest = dest.expanduser()
    if dest.exists() and not dest.is_dir():
        raise DistillabError(f"{dest} is a file", "give a folder to copy the recipe into")
    target = dest / shipped.path.name
    plan: dict[Path, Path] = {}  # source -> destination
    prompts = RECIPES_DIR / "prompts" / shipped.paradigm
    if prompts.is_dir():
        for src in sorted(prompts.rglob("*")):
            if src.is_file():
                plan[src] = dest / src.relative_to(RECIPES_DIR)
    for rel in sorted(set(_TEMPLATE.findall(text))):
        src = RECIPES_DIR / rel
        if src.is_file():
            plan[src] = dest / rel
    data = _bundled_data_path(text)
    if data is not None:
        src = (RECIPES_DIR / data).resolve()
        copied = Path("data") / src.name
        plan[src] = dest / copied
        text = text.replace(f"path: {data}", f"path: {copied.as_posix()}", 1)
    clashes = [p for p in [target, *plan.values()] if p.exists()]
    if clashes and not overwrite:
        raise DistillabError(f"{clashes[0]} already exists ({len(clashes)} file(s) would be "
                             "overwritten)", "pick another folder, or pass --force")
    dest.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    written = [target]
    for src, out in plan.items():
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
        written.append(out)
    load_recipe(target)  # the copy is valid on its own (raises with every problem if not)
    return CopiedRecipe(target, written)


def _bundled_data_path(text: str) -> str | None:
    """The recipe's ``dataset.path`` when it names a file shipped in ``assets/``."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None
    dataset = data.get("dataset") if isinstance(data, dict) else None
    path = dataset.get("path") if isinstance(dataset, dict) else None
    if not isinstance(path, str) or "$" in path or Path(path).is_absolute():
        return None
    resolved = (RECIPES_DIR / path).resolve()
    if resolved.is_file() and resolved.is_relative_to(ASSETS_DIR.resolve()):
        return path
    return None
