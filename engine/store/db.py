"""Opening a project database: connection settings, migrations, transactions.

A project is one SQLite file. Connections run in autocommit mode; work that must be
atomic (a finished unit with all its rows) goes through ``Store.transaction()``, which
takes the write lock up front (BEGIN IMMEDIATE) so two writers never deadlock. WAL mode
lets a reader (the GUI) page through traces while a job writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.store.schema import migrate


def now() -> str:
    """UTC timestamp as ISO 8601 text, the one time format in the database."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Store:
    """One open project database. Not shared between threads: open one per thread."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
        try:
            self.conn = sqlite3.connect(
                uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.OperationalError as exc:
            raise RuntimeError(
                f"Cannot open the project database {self.path}: {exc}. "
                "Check that the folder exists and is writable."
            ) from exc
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA busy_timeout = 30000")
        self._depth = 0
        self._lock = threading.RLock()
        if not readonly:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            migrate(self.conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all.

        Nesting joins the outer transaction through a savepoint: a nested block that
        fails is undone on its own (and its exception goes on), so nothing it wrote
        before failing stays behind in the outer transaction."""
        with self._lock:
            if self._depth:
                name = f"nested_{self._depth}"
                self.conn.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    yield
                except BaseException:
                    self.conn.execute(f"ROLLBACK TO {name}")
                    self.conn.execute(f"RELEASE {name}")
                    raise
                else:
                    self.conn.execute(f"RELEASE {name}")
                finally:
                    self._depth -= 1
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._depth = 0

    def insert(self, table: str, row: Mapping[str, Any]) -> int:
        """Insert one row (dict/list values stored as JSON text); returns its rowid."""
        cols = list(row)
        values = [to_json(v) if isinstance(v, dict | list) else v for v in row.values()]
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) "
               f"VALUES ({', '.join('?' for _ in cols)})")
        with self._lock:
            cur = self.conn.execute(sql, values)
        return int(cur.lastrowid or 0)

    def update(self, table: str, row_id: int, changes: Mapping[str, Any]) -> None:
        sets = ", ".join(f"{c} = ?" for c in changes)
        values = [to_json(v) if isinstance(v, dict | list) else v for v in changes.values()]
        with self._lock:
            self.conn.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*values, row_id])

    def query(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self.conn.execute(sql, params))

    def tuples(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        """Like ``query`` but plain tuples: cheaper when a read returns tens of thousands of rows."""
        with self._lock:
            cursor = self.conn.cursor()
            cursor.row_factory = None
            return cursor.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row
