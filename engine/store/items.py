"""Typed access to data sets and their items (content-hashed, split once, stored with the run)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from engine.store.db import Store, from_json, now, to_json


@dataclass(frozen=True)
class Item:
    id: int
    dataset_id: int
    idx: int
    split: str
    item_hash: str
    data: dict[str, Any]


def _item(row: sqlite3.Row) -> Item:
    return Item(id=row["id"], dataset_id=row["dataset_id"], idx=row["idx"], split=row["split"],
                item_hash=row["item_hash"], data=from_json(row["data"]))


def save_dataset(store: Store, *, name: str, source: str, content_hash: str,
                 fields: dict[str, str], splits: dict[str, Any],
                 rows: list[tuple[str, str, dict[str, Any]]]) -> int:
    """Store a data set once per content hash; ``rows`` are (split, item_hash, data).

    Returns the id of the stored (or already present) data set. All rows go in one
    transaction: a data set is never half-written.
    """
    existing = store.one("SELECT id FROM datasets WHERE content_hash = ?", (content_hash,))
    if existing is not None:
        return int(existing[0])
    with store.transaction():
        dataset_id = store.insert("datasets", {
            "name": name, "source": source, "content_hash": content_hash, "fields": fields,
            "splits": splits, "n_items": len(rows), "created_at": now()})
        store.conn.executemany(
            "INSERT INTO items (dataset_id, idx, split, item_hash, data) VALUES (?, ?, ?, ?, ?)",
            [(dataset_id, idx, split, item_hash, _json(data))
             for idx, (split, item_hash, data) in enumerate(rows)])
    return dataset_id


def _json(data: dict[str, Any]) -> str:
    text = to_json(data)
    assert text is not None
    return text


def get_items(store: Store, dataset_id: int, split: str | None = None) -> list[Item]:
    if split is None:
        rows = store.query("SELECT * FROM items WHERE dataset_id = ? ORDER BY idx", (dataset_id,))
    else:
        rows = store.query("SELECT * FROM items WHERE dataset_id = ? AND split = ? ORDER BY idx",
                           (dataset_id, split))
    return [_item(r) for r in rows]


def get_item(store: Store, item_id: int) -> Item:
    row = store.one("SELECT * FROM items WHERE id = ?", (item_id,))
    if row is None:
        raise KeyError(f"No item {item_id} in {store.path}")
    return _item(row)


def split_counts(store: Store, dataset_id: int) -> dict[str, int]:
    rows = store.query("SELECT split, COUNT(*) FROM items WHERE dataset_id = ? GROUP BY split",
                       (dataset_id,))
    return {r[0]: int(r[1]) for r in rows}
