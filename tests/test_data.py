"""Data sets: formats, field mapping, splits, content hashing, malformed input."""

from __future__ import annotations

import csv
import gzip
import json

import pytest

from engine.data import assign_splits, load_dataset, read_hub, read_records
from engine.errors import DataError
from engine.recipes import DatasetSpec
from engine.store import Store, items

from .conftest import write_jsonl

ROWS = [{"q": f"question {i}", "a": str(i), "meta": {"level": i % 3}} for i in range(20)]


def test_formats_read_the_same_records(tmp_path):
    write_jsonl(tmp_path / "d.jsonl", ROWS)
    with gzip.open(tmp_path / "d.jsonl.gz", "wt") as fh:
        fh.write("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "d.json").write_text(json.dumps(ROWS))
    (tmp_path / "nested.json").write_text(json.dumps({"examples": ROWS}))
    (tmp_path / "lines.json").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "d.parquet")
    for name in ("d.jsonl", "d.jsonl.gz", "d.json", "lines.json", "d.parquet"):
        assert read_records(tmp_path / name) == ROWS, name
    assert read_records(tmp_path / "nested.json", records_key="examples") == ROWS
    with (tmp_path / "d.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["q", "a"])
        writer.writeheader()
        writer.writerows({"q": r["q"], "a": r["a"]} for r in ROWS)
    assert read_records(tmp_path / "d.csv")[3] == {"q": "question 3", "a": "3"}


def test_json_object_without_records_key_names_the_candidates(tmp_path):
    (tmp_path / "nested.json").write_text(json.dumps({"examples": ROWS, "name": "x"}))
    with pytest.raises(DataError, match=r"records_key.*examples"):
        read_records(tmp_path / "nested.json")


def test_malformed_line_names_file_and_line_and_stores_nothing(tmp_path, db_path):
    path = write_jsonl(tmp_path / "d.jsonl", ROWS[:5])
    with path.open("a") as fh:
        fh.write('{"q": "broken", "a": \n')
    spec = DatasetSpec(path=str(path), fields={"question": "q"})
    with Store(db_path) as store:
        with pytest.raises(DataError) as info:
            load_dataset(store, spec, seed=0)
        assert f"{path}:6:" in str(info.value)
        assert store.one("SELECT COUNT(*) FROM items")[0] == 0
        assert store.one("SELECT COUNT(*) FROM datasets")[0] == 0


def test_missing_mapped_field_lists_the_fields_present(tmp_path, db_path):
    path = write_jsonl(tmp_path / "d.jsonl", ROWS)
    spec = DatasetSpec(path=str(path), fields={"question": "question"})
    with Store(db_path) as store, pytest.raises(DataError) as info:
        load_dataset(store, spec, seed=0)
    assert "record 1 has no field 'question'" in str(info.value)
    assert "a, meta, q" in str(info.value)


def test_mapping_splits_and_content_hash(tmp_path, db_path):
    path = write_jsonl(tmp_path / "d.jsonl", ROWS)
    spec = DatasetSpec(path="d.jsonl", fields={"question": "q", "level": "meta.level"},
                       split={"train": 0.5, "validation": 0.25, "test": 0.25})
    with Store(db_path) as store:
        ds = load_dataset(store, spec, seed=1, base_dir=tmp_path)
        assert items.split_counts(store, ds) == {"train": 10, "validation": 5, "test": 5}
        first = items.get_items(store, ds)[0]
        assert first.data["question"] == "question 0" and first.data["level"] == 0
        assert load_dataset(store, spec, seed=1, base_dir=tmp_path) == ds  # same content
        other_seed = load_dataset(store, spec, seed=2, base_dir=tmp_path)
        assert other_seed != ds
        path.write_text(path.read_text().replace("question 7", "question seven"))
        assert load_dataset(store, spec, seed=1, base_dir=tmp_path) not in (ds, other_seed)


def test_assign_splits_is_deterministic_and_exact():
    a = assign_splits(101, {"train": 0.8, "validation": 0.1, "test": 0.1}, seed=5)
    assert a == assign_splits(101, {"train": 0.8, "validation": 0.1, "test": 0.1}, seed=5)
    assert a != assign_splits(101, {"train": 0.8, "validation": 0.1, "test": 0.1}, seed=6)
    assert (a.count("train"), a.count("validation"), a.count("test")) == (81, 10, 10)


def test_split_field_and_limit(tmp_path, db_path):
    rows = [{"q": str(i), "part": "test" if i % 4 == 0 else "train"} for i in range(12)]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    spec = DatasetSpec(path=str(path), split_field="part", limit=8)
    with Store(db_path) as store:
        ds = load_dataset(store, spec, seed=0)
        assert items.split_counts(store, ds) == {"train": 6, "test": 2}


def test_env_var_in_path(tmp_path, db_path, monkeypatch):
    write_jsonl(tmp_path / "d.jsonl", ROWS)
    monkeypatch.setenv("MY_DATA", str(tmp_path))
    spec = DatasetSpec(path="${MY_DATA}/d.jsonl")
    with Store(db_path) as store:
        assert load_dataset(store, spec, seed=0) > 0
    spec = DatasetSpec(path="${NOT_SET_ANYWHERE:-" + str(tmp_path) + "}/d.jsonl")
    with Store(db_path) as store:
        assert load_dataset(store, spec, seed=0) > 0


def test_hub_loader_reads_a_local_folder_through_the_datasets_library(tmp_path):
    folder = tmp_path / "my_dataset"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", ROWS[:6])
    records = read_hub(str(folder), None, "train")
    assert [r["q"] for r in records] == [f"question {i}" for i in range(6)]
    with pytest.raises(DataError, match="cannot load hub data set"):
        read_hub(str(tmp_path / "nothing_here"), None, "train")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="data file not found"):
        read_records(tmp_path / "none.jsonl")


def test_keep_filters_records_by_column_values_before_limit(tmp_path, db_path):
    rows = [{"q": f"question {i}", "a": str(i), "level": f"Level {i % 5 + 1}"} for i in range(20)]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    spec = DatasetSpec(path=str(path), keep={"level": ["Level 1", "Level 3"]}, limit=6,
                       split={"train": 1.0})
    with Store(db_path) as store:
        stored = items.get_items(store, load_dataset(store, spec, seed=0))
    assert sorted(int(it.data["a"]) for it in stored) == [0, 2, 5, 7, 10, 12]
    for keep, message in (({"lvl": ["Level 1"]}, "record 1 has no field 'lvl'"),
                          ({"level": ["Level 9"]}, "leaves no records")):
        with Store(db_path) as store, pytest.raises(DataError) as info:
            load_dataset(store, DatasetSpec(path=str(path), keep=keep), seed=0)
        assert message in str(info.value)
