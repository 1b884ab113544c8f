"""Sandbox throughput: all 974 MBPP reference programs with their tests, two ways, one run.

1. ``engine.sandbox.Sandbox``: pre-started workers that fork a confined child per program
   (PID/mount/network namespaces, rlimits, unprivileged uid, minimal environment);
2. naive: ``subprocess.run([python, file], timeout=...)`` per program, no isolation at
   all, with the same number of programs in flight (threads), and also one at a time.

Reads ``mbpp/mbpp.jsonl`` in place from the shared data sets (``DISTILLAB_DATASETS``
overrides). Prints programs/s for each; the last line is
``sandbox_speedup_vs_naive: <ratio>`` against the naive run with equal parallelism.

    python bench/sandbox_throughput.py [--workers N] [--skip-sequential]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.datasets_shared import read_records
from engine.sandbox import Program, Sandbox

TIMEOUT_S = 10.0  # per program, both ways (MBPP task 123 alone needs ~5 s of CPU here)


def programs() -> list[tuple[int, str, list[str]]]:
    rows = read_records("mbpp/mbpp.jsonl")
    return [(r["task_id"], r["code"] + "\n\n" + r["test_setup_code"], r["test_list"])
            for r in rows]


def run_sandbox(items: list[tuple[int, str, list[str]]], workers: int) -> tuple[float, int]:
    with Sandbox(workers=workers, cpu_time_s=TIMEOUT_S, wall_time_s=2 * TIMEOUT_S) as sb:
        start = time.perf_counter()
        results = sb.run_many([Program(code, tuple(tests)) for _, code, tests in items])
        elapsed = time.perf_counter() - start
    return elapsed, sum(r.passed for r in results)


def run_naive(items: list[tuple[int, str, list[str]]], workers: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for task_id, code, tests in items:
            path = Path(tmp) / f"p{task_id}.py"
            path.write_text(code + "\n\n" + "\n".join(tests) + "\n", encoding="utf-8")
            paths.append(path)

        def one(path: Path) -> bool:
            try:
                proc = subprocess.run([sys.executable, str(path)], timeout=TIMEOUT_S,
                                      capture_output=True, cwd=tmp)
            except subprocess.TimeoutExpired:
                return False
            return proc.returncode == 0

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            passed = sum(pool.map(one, paths))
        return time.perf_counter() - start, passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--skip-sequential", action="store_true",
                        help="skip the one-at-a-time naive run (the slowest part)")
    args = parser.parse_args()
    items = programs()
    n = len(items)
    print(f"MBPP programs: {n}; workers: {args.workers}; cores: {os.cpu_count()}")
    sb_s, sb_ok = run_sandbox(items, args.workers)
    print(f"sandbox: {sb_s:.2f} s, {n / sb_s:.1f} programs/s, passed {sb_ok}/{n}")
    nv_s, nv_ok = run_naive(items, args.workers)
    print(f"naive subprocess.run ({args.workers} in flight): {nv_s:.2f} s, "
          f"{n / nv_s:.1f} programs/s, passed {nv_ok}/{n}")
    if not args.skip_sequential:
        sq_s, sq_ok = run_naive(items, 1)
        print(f"naive subprocess.run (one at a time): {sq_s:.2f} s, {n / sq_s:.1f} programs/s, "
              f"passed {sq_ok}/{n}; sandbox speed-up vs this: {sq_s / sb_s:.2f}")
    print(f"sandbox_speedup_vs_naive: {nv_s / sb_s:.2f}")


if __name__ == "__main__":
    main()
