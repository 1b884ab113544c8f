"""Query bar latency on a big project: 100k traces with 1M steps over 10 runs, 1% of the
steps labelled by hand; each query is compiled (engine.query) and run the way the Traces
view runs it: the first page of 200 rows (engine.browse.page_rows), and the number of all
matching traces (COUNT over the same condition).

    python bench/query_latency.py [--db PATH] [--traces N] [--repeat 5]

The database is generated with executemany (about 20-40 s); --db reuses one. Goal: the
issue's query answers in < 300 ms. Last line: ``traces_query_ms: <ms>``, the median over
``--repeat`` runs of first page + count of that query.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import browse
from engine.query import compile_query
from engine.store import Store, now, runs

RUNS = 10
STEPS_PER_TRACE = 10
WORDS = ("add subtract total apples each so the answer left multiply divide bags cookies "
         "remaining first then gives per hour price cost carry borrow digit").split()
QUERIES = [
    'verdict = wrong and steps > 5 and run in (3, 4) and text ~ "carry"',  # the issue's
    "disagree = yes",
    'label = wrong or step ~ "borrow digit"',
    'role = student and not passed = yes and wrong_steps >= 2',
]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + f" = {rng.randrange(1000)}."


def generate(db: Path, n_traces: int) -> None:
    rng = random.Random(0)
    n_items = max(1, n_traces // 20)
    with Store(db) as store:
        run_ids = [runs.create_run(store, name=f"bench-{r}", paradigm="smoke",
                                   recipe_yaml="bench", seed=r,
                                   stage_names=["teach", "evaluate"]).id for r in range(RUNS)]
        created = now()
        with store.transaction():
            ds = store.insert("datasets", {"name": "bench", "source": "bench",
                                           "content_hash": f"query-{n_traces}",
                                           "n_items": n_items, "created_at": created})
            store.conn.executemany(
                "INSERT INTO items (id, dataset_id, idx, split, item_hash, data) "
                "VALUES (?, ?, ?, 'test', ?, ?)",
                ((i + 1, ds, i, f"h{i}", f'{{"question": "Question number {i}?"}}')
                 for i in range(n_items)))
            roles = ("teacher", "student")
            store.conn.executemany(
                "INSERT INTO traces (id, run_id, stage, item_id, role, model, output, "
                "sample_index, verdict, created_at) VALUES (?, ?, ?, ?, ?, 'm', ?, 0, ?, ?)",
                ((t + 1, run_ids[t % RUNS], "teach" if t % 2 == 0 else "evaluate",
                  t % n_items + 1, roles[t % 2], f"trace {t}: " + _sentence(rng, 40),
                  "wrong" if t % 4 == 0 else "correct", created) for t in range(n_traces)))
            store.conn.executemany(
                "INSERT INTO steps (trace_id, idx, kind, text, verdict) "
                "VALUES (?, ?, 'step', ?, ?)",
                ((t + 1, k, _sentence(rng, 8),
                  "wrong" if (t + k) % 7 == 0 else "correct")
                 for t in range(n_traces) for k in range(rng.randrange(4, 2 * STEPS_PER_TRACE - 3))))
            store.conn.executemany(
                "INSERT INTO evaluations (run_id, stage, item_id, trace_id, passed) "
                "VALUES (?, 'evaluate', ?, ?, ?)",
                ((run_ids[t % RUNS], t % n_items + 1, t + 1, int(t % 3 != 0))
                 for t in range(1, n_traces, 2)))
            store.conn.executemany(
                "INSERT OR IGNORE INTO step_labels (step_id, trace_id, label, author, created_at)"
                " SELECT ?, trace_id, ?, 'human:bench', ? FROM steps WHERE id = ?",
                ((s, rng.choice(("correct", "wrong", "unsure")), created, s)
                 for s in rng.sample(range(1, n_traces * STEPS_PER_TRACE), n_traces // 10)))
        store.conn.execute("ANALYZE")


def time_query(store: Store, query: str, repeat: int) -> tuple[float, float, int]:
    """Median ms of the first page, of the count, and the count."""
    pages, counts = [], []
    n = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        rows = browse.page_rows(store, browse.TraceFilter(query=query), limit=200)
        t1 = time.perf_counter()
        sql, params = compile_query(query)
        n = int(store.one(f"SELECT COUNT(*) FROM traces t WHERE {sql}", params)[0])
        t2 = time.perf_counter()
        assert len(rows) == min(200, n)
        pages.append((t1 - t0) * 1000)
        counts.append((t2 - t1) * 1000)
    return statistics.median(pages), statistics.median(counts), n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="reuse (or create) this database")
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="distillab-bench-"))
    os.environ.setdefault("DISTILLAB_HOME", str(folder))
    db = args.db or folder / "query.db"
    if not db.exists():
        t0 = time.perf_counter()
        generate(db, args.traces)
        print(f"generated {db} in {time.perf_counter() - t0:.1f} s")
    with Store(db) as store:
        n_traces = store.one("SELECT COUNT(*) FROM traces")[0]
        n_steps = store.one("SELECT COUNT(*) FROM steps")[0]
        print(f"database: {n_traces:,} traces, {n_steps:,} steps, "
              f"{db.stat().st_size / 1e6:.0f} MB")
        total = []
        for query in QUERIES:
            page, count, n = time_query(store, query, args.repeat)
            total.append(page + count)
            print(f"{query!r}: first page {page:.0f} ms, count {count:.0f} ms ({n:,} traces)")
    print(f"traces_query_ms: {total[0]:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
