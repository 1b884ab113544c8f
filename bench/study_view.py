"""How fast the Studies view opens a large study: 6 arms x 5 seeds x 500 items.

Builds the study straight through the store (30 completed runs, 15,000 traces and
evaluations, outcomes correlated across arms the way real arms on the same items are),
then times the view (wall clock, and this process's CPU time) from construction to its
first painted frame: the store read, the
statistics (bootstrap intervals for every arm, paired tests for every pair, Holm), the
tables, the plots and the win/loss matrix of the first pair. The modules are imported
before timing, as the app does at start-up. Prints the first open, then a second (warm)
one, and ends with `study_view_open_ms: <first open>`.

    python bench/study_view.py [--arms 6 --seeds 5 --items 500]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_study(db: Path, arms: int = 6, seeds: int = 5, items: int = 500) -> int:
    """A completed study of smoke-shaped runs with ``items`` evaluated items per run."""
    import yaml

    from engine.store import Store, now, runs, studies
    from engine.store import items as item_store

    rng = random.Random(0)
    names = [f"arm-{i}" for i in range(arms)]
    spec = {"schema_version": 1, "name": f"bench-{arms}x{seeds}x{items}",
            "description": "synthetic: arm i solves an item when its difficulty is below "
                           "0.45 + 0.04 i, plus noise",
            "base": "../smoke.yaml", "seeds": list(range(seeds)),
            "arms": [{"name": n, "set": {"stages.check.noise": i / 100}}
                     for i, n in enumerate(names)],
            "comparisons": [{"metric": "accuracy", "stage": "check", "pairs": "baseline",
                             "cost_axes": ["student_gen_tokens", "wall_s"]}]}
    text = yaml.safe_dump(spec, sort_keys=False)
    with Store(db) as store, store.transaction():
        rows = [("test", hashlib.sha256(f"item {i}".encode()).hexdigest(),
                 {"question": f"Synthetic question number {i}: what is {i} times 3?",
                  "answer": str(3 * i)}) for i in range(items)]
        dataset = item_store.save_dataset(store, name="bench", source="bench", content_hash="b",
                                          fields={}, splits={}, rows=rows)
        item_ids = [it.id for it in item_store.get_items(store, dataset)]
        difficulty = [rng.random() for _ in item_ids]
        study_id = studies.create_study(store, name=spec["name"], spec_yaml=text,
                                        spec_path=None)
        studies.set_study(store, study_id, status="completed", finished_at=now())
        position = 0
        for seed in range(seeds):
            for a, arm in enumerate(names):
                run = runs.create_run(store, name=f"bench/{arm}/seed{seed}", paradigm="smoke",
                                      recipe_yaml="x", seed=seed,
                                      stage_names=["echo", "check", "summary"])
                runs.set_run(store, run.id, status="completed", dataset_id=dataset)
                for stage in ("echo", "check", "summary"):
                    runs.set_stage(store, run.id, stage, status="completed",
                                   seconds=rng.uniform(0.5, 1.5))
                studies.add_run(store, study_id, position, arm, seed, run.id)
                position += 1
                first = int((store.one("SELECT COALESCE(MAX(id), 0) FROM traces") or [0])[0]) + 1
                store.conn.executemany(
                    "INSERT INTO traces (id, run_id, stage, item_id, role, output, sample_index, "
                    "created_at) VALUES (?, ?, 'echo', ?, 'reference', ?, 0, '')",
                    [(first + k, run.id, item, f"step one of {item}\nstep two\n#### {item}")
                     for k, item in enumerate(item_ids)])
                threshold = 0.45 + 0.04 * a
                store.conn.executemany(
                    "INSERT INTO evaluations (run_id, stage, item_id, trace_id, sample_index, "
                    "passed) VALUES (?, 'check', ?, ?, 0, ?)",
                    [(run.id, item, first + k, int(d + rng.gauss(0, 0.1) < threshold))
                     for k, (item, d) in enumerate(zip(item_ids, difficulty, strict=True))])
                runs.add_metric(store, run.id, "cost/student_gen_tokens",
                                float(rng.randint(9000, 11000) * (1 + a / 10)), stage="echo")
    return study_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--items", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from gui.studies_view import StudiesView
    from gui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app, "light")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        make_study(db, args.arms, args.seeds, args.items)
        print(f"built {args.arms} arms x {args.seeds} seeds x {args.items} items in "
              f"{time.perf_counter() - t0:.1f} s")
        times, cpu = [], []
        for _ in range(2):
            t0, c0 = time.perf_counter(), time.process_time()
            view = StudiesView(db)
            view.resize(1300, 850)
            view.show()
            app.processEvents()  # lays the view out and paints its first frame
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            assert not view.grab().toImage().isNull()
            assert view.matrix_model.rowCount() == args.items
            assert view.arms_table.columnCount() == args.arms
            view.close()
            view.deleteLater()
            app.processEvents()
        print(f"first open {times[0]:.0f} ms, second open {times[1]:.0f} ms (CPU time of this "
              f"process: {cpu[0]:.0f} ms, {cpu[1]:.0f} ms; on a busy machine wall > CPU)")
        print(f"study_view_open_ms: {times[0]:.0f}")


if __name__ == "__main__":
    main()
