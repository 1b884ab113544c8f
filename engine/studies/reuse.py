"""Shared work once: a content key per stage, and copying a finished stage between runs.

A stage's *input key* hashes what its results depend on: the paradigm and its code (the
source of its package and of the shared blocks, so results of older code are never mixed
in), the key of the stage before it (so the inputs of every earlier stage count), this
stage's parameters (and the
content of files they name, such as prompt templates), and the recipe sections it reads:
the data set's content hash (items, field mapping, split and its seed), the seed, the
teacher (less the settings that cannot change an answer: concurrency, rate limits, timeout,
retries, budget, key lookup), the student, training and evaluation settings. A
``StageSpec`` may narrow the sections with ``reads``, and names in ``reads_params`` the
parameters of later stages that its code reads (e.g. a baseline that prompts with the
train stage's template): their values (and named files) join its key.

When a study runs a stage whose key matches a completed stage of another run in the
project, and every earlier stage of this run was reused as well, ``copy_stage`` copies
that stage's rows into this run in one transaction: traces with their steps (parent links,
and the trace ids of evaluations and pairs, remapped to this run's copies), evaluations,
pairs, metrics, finished units and artifacts (pointing at the same files), and marks the
stage completed and reused from the run that computed it. Teacher calls are not copied:
they are an audit of what was paid, and it was paid once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.recipes import SECTIONS, LoadedRecipe
from engine.store import Store, calls, now, runs

if TYPE_CHECKING:
    from engine.paradigms import StageSpec

# Teacher settings that change how requests are sent, never what comes back.
TEACHER_OPERATIONAL = frozenset({"concurrency", "requests_per_minute", "tokens_per_minute",
                                 "timeout_s", "max_retries", "budget", "use_keyring",
                                 "api_key_env", "endpoint_down_s", "batch", "batch_poll_s",
                                 "batch_window"})
# Training settings that choose where training runs, never what it computes.
TRAINING_OPERATIONAL = frozenset({"launcher", "accelerate_config"})


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


@cache
def code_digest(paradigm: str) -> str:
    """A hash of the paradigm's source files and the shared stage blocks (once per process)."""
    folder = Path(__file__).resolve().parent.parent / "paradigms"
    package = folder / paradigm
    files = sorted(package.rglob("*.py")) if package.is_dir() else [folder / f"{paradigm}.py"]
    digest = hashlib.sha256()
    for path in [*files, folder / "blocks.py", folder / "__init__.py"]:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _named_files(value: Any, base_dir: Path | None, out: dict[str, str]) -> None:
    """Content hashes of the files that parameter strings name (e.g. prompt templates)."""
    if isinstance(value, dict):
        for v in value.values():
            _named_files(v, base_dir, out)
    elif isinstance(value, list):
        for v in value:
            _named_files(v, base_dir, out)
    elif isinstance(value, str) and 0 < len(value) < 1024 and "\n" not in value:
        path = Path(value)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            if path.is_file():
                out[value] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            pass


def _section(loaded: LoadedRecipe, name: str, dataset_hash: str) -> Any:
    recipe = loaded.recipe
    if name == "dataset":
        return dataset_hash
    if name == "seed":
        return recipe.seed
    if name == "teacher":
        teacher = recipe.teacher.model_dump(mode="json", exclude=set(TEACHER_OPERATIONAL))
        if teacher.get("endpoints") is None:  # one server: the keys of older runs still match
            teacher.pop("endpoints", None)
        return teacher
    if name == "training":
        return recipe.training.model_dump(mode="json", exclude=set(TRAINING_OPERATIONAL))
    section: Any = getattr(recipe, name)
    return section.model_dump(mode="json")


def stage_keys(loaded: LoadedRecipe, stages: Sequence[StageSpec],
               dataset_hash: str) -> dict[str, str]:
    """The input key of every stage of a run, in order (each includes the one before)."""
    keys: dict[str, str] = {}
    paradigm = loaded.recipe.paradigm
    previous = _digest({"paradigm": paradigm, "code": code_digest(paradigm)})
    for spec in stages:
        params = loaded.stage_params[spec.name].model_dump(mode="json")
        files: dict[str, str] = {}
        _named_files(params, loaded.base_dir, files)
        reads = SECTIONS if spec.reads is None else spec.reads
        parts = {"previous": previous, "stage": spec.name, "params": params, "files": files,
                 "sections": {name: _section(loaded, name, dataset_hash) for name in reads}}
        if spec.reads_params:  # only then: the keys of stages that read no other stay as they were
            other = {path: param_value(loaded, path) for path in spec.reads_params}
            other_files: dict[str, str] = {}
            _named_files(other, loaded.base_dir, other_files)
            parts["other_params"] = {"values": other, "files": other_files}
        previous = _digest(parts)
        keys[spec.name] = previous
    return keys


def param_value(loaded: LoadedRecipe, path: str) -> Any:
    """The value of a stage parameter named ``"<stage>.<field>[.<field>...]"`` (a bare stage
    name: all its parameters), as JSON; KeyError names a path the recipe's stages lack."""
    stage, *fields = path.split(".")
    value: Any = loaded.stage_params[stage].model_dump(mode="json")
    for name in fields:
        if not isinstance(value, dict) or name not in value:
            raise KeyError(f"{path}: stage {stage!r} has no parameter {name!r}")
        value = value[name]
    return value


def dataset_hash(store: Store, dataset_id: int) -> str:
    row = store.one("SELECT content_hash FROM datasets WHERE id = ?", (dataset_id,))
    return str(row[0]) if row else ""


def can_reuse(store: Store, run_id: int, stage: str, earlier: Sequence[str]) -> bool:
    """Only a prefix of stages is reused (every earlier stage of this run was), and only
    into a stage that has nothing of its own yet (a partly done stage resumes instead)."""
    for row in runs.stages(store, run_id):
        if row.name in earlier and row.reused_from is None:
            return False
    for table in ("units", "traces", "evaluations", "metrics", "pairs"):
        if store.one(f"SELECT 1 FROM {table} WHERE run_id = ? AND stage = ? LIMIT 1",
                     (run_id, stage)):
            return False
    return True


def sources(store: Store, run_id: int, stage: str, key: str) -> list[int]:
    """Runs that computed a completed stage with this key (not copies), oldest first."""
    rows = store.query(
        "SELECT DISTINCT COALESCE(reused_from, run_id) FROM stages WHERE input_key = ? "
        "AND name = ? AND status = 'completed' AND run_id != ? ORDER BY 1", (key, stage, run_id))
    return [int(r[0]) for r in rows if int(r[0]) != run_id]


def _columns(store: Store, table: str) -> list[str]:
    return [str(r[1]) for r in store.query(f"PRAGMA table_info({table})")]


def _external_map(store: Store, refs: set[int], dst: int) -> dict[int, int] | None:
    """This run's copy of each referenced trace of an earlier stage (matched through the
    original trace both copies came from); None when one has no copy here."""
    if not refs:
        return {}
    marks = ",".join("?" * len(refs))
    roots = {int(r[0]): int(r[1]) for r in store.query(
        f"SELECT id, COALESCE(copied_from, id) FROM traces WHERE id IN ({marks})", list(refs))}
    mine = {int(r[1]): int(r[0]) for r in store.query(
        "SELECT id, COALESCE(copied_from, id) FROM traces WHERE run_id = ?", (dst,))}
    out = {}
    for ref in refs:
        root = roots.get(ref)
        if root is None or root not in mine:
            return None
        out[ref] = mine[root]
    return out


def _json_refs(raw: Any) -> dict[str, int]:
    """Trace ids a row names inside its JSON (``parsed`` of a trace, ``meta`` of a pair):
    top-level keys ending in ``_trace`` or ``_trace_id`` with an integer value, e.g. a
    correction's ``student_trace``. They are remapped like the id columns."""
    if raw is None:
        return {}
    try:
        value = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)
            and (k.endswith("_trace") or k.endswith("_trace_id"))}


def _remap_json(raw: Any, mapping: dict[int, int]) -> Any:
    refs = _json_refs(raw)
    if not refs:
        return raw
    value = json.loads(raw) if isinstance(raw, str | bytes) else dict(raw)
    value.update({k: mapping.get(v, v) for k, v in refs.items()})
    return json.dumps(value)


def copy_stage(store: Store, src: int, dst: int, stage: str) -> dict[str, int] | None:
    """Copy a completed stage of run ``src`` into run ``dst`` (see the module docstring);
    returns the number of rows copied per table, or None when a trace it refers to has no
    counterpart in ``dst`` (then nothing is written and the stage is computed instead)."""
    traces = store.query("SELECT * FROM traces WHERE run_id = ? AND stage = ? ORDER BY id",
                         (src, stage))
    evals = store.query("SELECT * FROM evaluations WHERE run_id = ? AND stage = ? ORDER BY id",
                        (src, stage))
    pairs = store.query("SELECT * FROM pairs WHERE run_id = ? AND stage = ? ORDER BY id",
                        (src, stage))
    own = {int(r["id"]) for r in traces}
    refs = {int(r["parent_id"]) for r in traces if r["parent_id"] is not None}
    refs |= {int(r["trace_id"]) for r in evals if r["trace_id"] is not None}
    refs |= {int(r[c]) for r in pairs for c in ("chosen_trace_id", "rejected_trace_id")
             if r[c] is not None}
    refs |= {v for r in traces for v in _json_refs(r["parsed"]).values()}
    refs |= {v for r in pairs for v in _json_refs(r["meta"]).values()}
    mapping = _external_map(store, refs - own, dst)
    if mapping is None:
        return None
    counts: dict[str, int] = {}
    with store.transaction():
        if own:
            top = int((store.one("SELECT COALESCE(MAX(id), 0) FROM traces") or [0])[0])
            offset = top + 1 - min(own)
            mapping.update({i: i + offset for i in own})
            cols = _columns(store, "traces")
            rows = []
            for r in traces:
                values = {c: r[c] for c in cols}
                values.update(id=mapping[int(r["id"])], run_id=dst,
                              copied_from=r["copied_from"] or r["id"],
                              parent_id=None if r["parent_id"] is None
                              else mapping[int(r["parent_id"])],
                              parsed=_remap_json(r["parsed"], mapping))
                rows.append([values[c] for c in cols])
            store.conn.executemany(f"INSERT INTO traces ({', '.join(cols)}) VALUES "
                                   f"({', '.join('?' * len(cols))})", rows)
            cur = store.conn.execute(
                "INSERT INTO steps (trace_id, idx, kind, text, verdict, verdict_by, metrics) "
                "SELECT trace_id + ?, idx, kind, text, verdict, verdict_by, metrics FROM steps "
                "WHERE trace_id IN (SELECT id FROM traces WHERE run_id = ? AND stage = ?)",
                (offset, src, stage))
            counts["steps"] = cur.rowcount
        counts["traces"] = len(own)
        counts["evaluations"] = _copy_rows(store, "evaluations", evals, dst, mapping,
                                           ("trace_id",))
        counts["pairs"] = _copy_rows(store, "pairs", pairs, dst, mapping,
                                     ("chosen_trace_id", "rejected_trace_id"))
        for table, names in (("metrics", "stage, name, step, value, created_at"),
                             ("units", "stage, unit_key, finished_at")):
            cur = store.conn.execute(
                f"INSERT INTO {table} (run_id, {names}) SELECT ?, {names} FROM {table} "
                "WHERE run_id = ? AND stage = ?", (dst, src, stage))
            counts[table] = cur.rowcount
        cur = store.conn.execute(
            "INSERT INTO artifacts (run_id, kind, path, sha256, bytes, meta, created_at) "
            "SELECT ?, kind, path, sha256, bytes, meta, created_at FROM artifacts "
            "WHERE run_id = ? AND json_extract(meta, '$.stage') = ?", (dst, src, stage))
        counts["artifacts"] = cur.rowcount
        # its teacher answers: used by this run, paid by the run that computed the stage
        counts["teacher answers"] = calls.reuse_stage_calls(store, src, dst, stage)
        source = next(s for s in runs.stages(store, src) if s.name == stage)
        stamp = now()
        runs.set_stage(store, dst, stage, status="completed", done=source.done,
                       total=source.total, seconds=0.0, reused_from=src, started_at=stamp,
                       finished_at=stamp, error=None)
    return counts


def _copy_rows(store: Store, table: str, rows: Sequence[Any], dst: int, mapping: dict[int, int],
               trace_columns: tuple[str, ...]) -> int:
    if not rows:
        return 0
    cols = [c for c in _columns(store, table) if c != "id"]
    values = []
    for r in rows:
        row = {c: r[c] for c in cols}
        row["run_id"] = dst
        for c in trace_columns:
            if row[c] is not None:
                row[c] = mapping[int(row[c])]
        if "meta" in row:
            row["meta"] = _remap_json(row["meta"], mapping)
        values.append([row[c] for c in cols])
    store.conn.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                           f"({', '.join('?' * len(cols))})", values)
    return len(values)


def reused_stages(store: Store, run_id: int) -> list[tuple[str, int]]:
    """(stage, run it was copied from) for every reused stage of a run."""
    return [(s.name, s.reused_from) for s in runs.stages(store, run_id)
            if s.reused_from is not None]


def reuse_stage(store: Store, run_id: int, stage: str, key: str,
                earlier: Sequence[str]) -> tuple[int, dict[str, int]] | None:
    """Copy the stage from the first run that computed it with the same key, if this run
    may reuse it; returns (that run, rows copied per table), or None: compute it."""
    if not can_reuse(store, run_id, stage, earlier):
        return None
    for src in sources(store, run_id, stage, key):
        counts = copy_stage(store, src, run_id, stage)
        if counts is not None:
            return src, counts
    return None
