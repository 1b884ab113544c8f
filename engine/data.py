"""Reading data sets: files (JSONL, gzipped JSONL, JSON, CSV, Parquet) or the Hugging Face hub.

Records are mapped onto the recipe's field names, hashed by content, split into
train/validation/test with the recipe's seed, and stored once per content hash. A
malformed line stops the load with its file and line number before anything is written.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import DataError
from engine.paths import expand
from engine.store import Store, items, to_json

if TYPE_CHECKING:
    from engine.recipes import DatasetSpec

SPLITS = ("train", "validation", "test")


def resolve_path(path: str, base_dir: Path | None) -> Path:
    """Expand ``${VAR:-default}`` and make a relative path relative to the recipe's folder."""
    p = Path(expand(path)).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    return p


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return io.TextIOWrapper(path.open("rb"), encoding="utf-8")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column {exc.colno})",
                                "fix or delete that line; nothing was stored") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got "
                                f"{type(record).__name__}",
                                "each line must be one object like {\"question\": ...}")
            records.append(record)
    return records


def _read_json(path: Path, records_key: str | None) -> list[dict[str, Any]]:
    with _open_text(path) as fh:
        text = fh.read()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # one object per line in a .json file (e.g. AQuA)
            return _read_jsonl(path)
        raise DataError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})",
                        "fix the file; nothing was stored") from None
    if records_key:
        if not isinstance(data, dict) or records_key not in data:
            raise DataError(f"{path}: no top-level key {records_key!r}",
                            "set dataset.records_key to the key that holds the list of records")
        data = data[records_key]
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list)]
        raise DataError(f"{path}: the file holds an object, not a list of records",
                        f"set dataset.records_key to one of: {', '.join(lists) or '(none found)'}")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{path}: expected a list of JSON objects", "one object per record")
    return data


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with _open_text(path) as fh:
        return [dict(row) for row in csv.DictReader(fh)]


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def read_records(path: Path, records_key: str | None = None) -> list[dict[str, Any]]:
    """All records of a data file, by its extension."""
    if not path.exists():
        raise DataError(f"data file not found: {path}",
                        "check dataset.path (relative paths start at the recipe's folder)")
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".jsonl"):
        return _read_jsonl(path)
    if name.endswith(".json"):
        return _read_json(path, records_key)
    if name.endswith(".csv"):
        return _read_csv(path)
    if name.endswith(".parquet"):
        return _read_parquet(path)
    raise DataError(f"{path}: unknown data format",
                    "use .jsonl, .jsonl.gz, .json, .csv or .parquet")


def read_hub(name: str, config: str | None, split: str) -> list[dict[str, Any]]:
    """A data set from the Hugging Face hub (or a local folder in its format), via `datasets`."""
    import datasets

    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as exc:  # the library raises many types; all mean "cannot load"
        raise DataError(f"cannot load hub data set {name!r} (config {config}, split {split}): "
                        f"{exc}", "check the name, or download it and use dataset.path") from exc
    return [dict(r) for r in ds]


def _get(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]  # a list element by index, e.g. instances.0.output
            continue
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def map_fields(records: Iterable[dict[str, Any]], fields: dict[str, str],
               where: str) -> list[dict[str, Any]]:
    """Rename source columns to the recipe's field names; the other columns stay as they are."""
    mapped = []
    for n, record in enumerate(records, start=1):
        out = dict(record)
        for target, source in fields.items():
            try:
                out[target] = _get(record, source)
            except KeyError:
                raise DataError(
                    f"{where}: record {n} has no field {source!r} (mapped to {target!r})",
                    f"fields present: {', '.join(sorted(record))}; fix dataset.fields") from None
        mapped.append(out)
    return mapped


def keep_records(records: list[dict[str, Any]], keep: dict[str, list[Any]],
                 where: str) -> list[dict[str, Any]]:
    """The records whose every ``keep`` column holds one of its listed values."""
    for n, record in enumerate(records, start=1):
        missing = [c for c in keep if c not in record]
        if missing:
            raise DataError(f"{where}: record {n} has no field {missing[0]!r} (in dataset.keep)",
                            f"fields present: {', '.join(sorted(record))}; fix dataset.keep")
    kept = [r for r in records if all(r[c] in values for c, values in keep.items())]
    if not kept:
        raise DataError(f"{where}: dataset.keep {keep} leaves no records",
                        "check the values against the data (they must match exactly)")
    return kept


def content_hash(value: Any) -> str:
    return hashlib.sha256((to_json(value) or "").encode()).hexdigest()


def assign_splits(n: int, fractions: dict[str, float], seed: int) -> list[str]:
    """Deterministic split labels for n records: shuffled by seed, sized by fractions."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    labels = [""] * n
    start = 0
    names = [s for s in SPLITS if fractions.get(s, 0) > 0]
    for i, split in enumerate(names):
        size = n - start if i == len(names) - 1 else round(n * fractions[split])
        for j in order[start:start + size]:
            labels[j] = split
        start += size
    return labels


def load_dataset(store: Store, spec: DatasetSpec, seed: int,
                 base_dir: Path | None = None) -> int:
    """Read, map, split and store the recipe's data set; returns the stored data set's id."""
    if spec.hub:
        source = f"hub:{spec.hub}" + (f"/{spec.hub_config}" if spec.hub_config else "")
        records = read_hub(spec.hub, spec.hub_config, spec.hub_split)
        where = source
    elif spec.lab:
        from engine.lab import generate_records

        lab = spec.lab
        try:
            records = generate_records(lab.family, lab.n, digits=lab.digits, ops=lab.ops,
                                       mix=lab.mix, distractors=lab.distractors, seed=lab.seed)
        except ValueError as exc:
            raise DataError(f"dataset.lab: {exc}", "change the dials in dataset.lab "
                            "(docs/lab.md lists their ranges)") from None
        source = where = (f"lab:{lab.family}/n{lab.n}-d{lab.digits}-o{lab.ops}-{lab.mix}"
                          f"-x{lab.distractors}-s{lab.seed}")
    else:
        assert spec.path is not None
        path = resolve_path(spec.path, base_dir)
        records = read_records(path, spec.records_key)
        source = where = str(path)
    if not records:
        raise DataError(f"{where}: no records", "point dataset.path at a non-empty file")
    if spec.keep:
        records = keep_records(records, spec.keep, where)
    if spec.limit:
        records = records[: spec.limit]
    mapped = map_fields(records, spec.fields, where)
    if spec.split_field:
        labels = []
        for n, rec in enumerate(mapped, start=1):
            label = str(rec.get(spec.split_field, ""))
            if label not in SPLITS:
                raise DataError(f"{where}: record {n} has split {label!r}",
                                f"dataset.split_field values must be one of {', '.join(SPLITS)}")
            labels.append(label)
    else:
        labels = assign_splits(len(mapped), spec.split, seed)
    hashes = [content_hash(rec) for rec in mapped]
    split_cfg = {"fractions": spec.split, "split_field": spec.split_field, "seed": seed}
    digest = content_hash({"items": hashes, "labels": labels, "split": split_cfg})
    rows = list(zip(labels, hashes, mapped, strict=True))
    name = spec.name or Path(source).name
    return items.save_dataset(store, name=name, source=source, content_hash=digest,
                              fields=spec.fields, splits=split_cfg, rows=rows)
