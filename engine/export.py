"""Export a run's traces (with their steps and items), preference pairs, evaluations, or its
teacher accounting (tokens and USD used and paid, per stage and a total row with stage null).

JSONL (one object per line) or Parquet; API keys are never in the database, so never
in an export. Paradigms add training-format exports (chat JSONL, DPO pairs) on top.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import DistillabError
from engine.store import Store, calls, from_json, runs


def _rows(store: Store, run_id: int, what: str) -> list[dict[str, Any]]:
    if what == "traces":
        steps: dict[int, list[dict[str, Any]]] = {}
        for s in store.query("SELECT s.* FROM steps s JOIN traces t ON s.trace_id = t.id "
                             "WHERE t.run_id = ? ORDER BY s.trace_id, s.idx", (run_id,)):
            steps.setdefault(s["trace_id"], []).append(
                {"idx": s["idx"], "kind": s["kind"], "text": s["text"], "verdict": s["verdict"],
                 "verdict_by": s["verdict_by"], "metrics": from_json(s["metrics"])})
        rows = store.query("SELECT t.*, i.data AS item FROM traces t LEFT JOIN items i "
                           "ON t.item_id = i.id WHERE t.run_id = ? ORDER BY t.id", (run_id,))
        return [{**dict(r), "parsed": from_json(r["parsed"]), "item": from_json(r["item"]),
                 "steps": steps.get(r["id"], [])} for r in rows]
    if what == "pairs":
        return [{**dict(r), "meta": from_json(r["meta"])} for r in
                store.query("SELECT * FROM pairs WHERE run_id = ? ORDER BY id", (run_id,))]
    if what == "evaluations":
        return [{**dict(r), "details": from_json(r["details"])} for r in
                store.query("SELECT * FROM evaluations WHERE run_id = ? ORDER BY id", (run_id,))]
    if what == "teacher":  # used and paid, per stage and in total (engine.store.calls)
        by_stage = calls.accounting_by_stage(store, run_id)
        total = sum(by_stage.values(), calls.Accounting())
        return [{"run_id": run_id, "stage": stage, **a.figures()}
                for stage, a in [*by_stage.items(), (None, total)]]
    raise DistillabError(f"cannot export {what!r}",
                         "choose traces, pairs, evaluations or teacher")


def export_run(db_path: str | Path, run_id: int, fmt: str = "jsonl",
               out: str | Path | None = None, what: str = "traces") -> Path:
    """Write the export file and return its path."""
    db_path = Path(db_path)
    with Store(db_path) as store:
        runs.get_run(store, run_id)  # a clear error for an unknown run
        rows = _rows(store, run_id, what)
        path = Path(out) if out else db_path.resolve().parent / f"run-{run_id}-{what}.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        if fmt == "jsonl":
            with tmp.open("w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            # nested JSON columns go in as JSON text: Parquet needs one type per column
            flat = [{k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
                     for k, v in row.items()} for row in rows]
            pq.write_table(pa.Table.from_pylist(flat), tmp)
        else:
            raise DistillabError(f"unknown export format {fmt!r}", "use jsonl or parquet")
        tmp.replace(path)
        runs.add_artifact(store, run_id, f"export-{what}-{fmt}", path, {"rows": len(rows)})
    return path
