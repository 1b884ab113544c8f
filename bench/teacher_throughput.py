"""Teacher client throughput: achieved requests/s against the ideal, and client CPU per request.

A fake OpenAI-protocol server (tests/fake_openai_server.py, in its own process so its
CPU is not counted as ours) answers every chat request after a fixed delay. With
``c`` requests in flight the ideal rate is c / delay. The client does everything a real
run does: cache look-ups and one audit row per answer in a real SQLite file (temp dir).

    python bench/teacher_throughput.py [--delay 0.2] [--requests 500]

Concurrency 1 uses 50 requests (500 would take 100 s and say nothing more). The last
line is ``teacher_efficiency_c64: <achieved/ideal>``; the goal is >= 0.90.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.recipes import TeacherSpec  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.teacher import Request, open_teacher  # noqa: E402


def start_server(delay: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai_server.py"),
                             "--delay", str(delay)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"fake server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"


def measure(url: str, db: Path, concurrency: int, n: int, delay: float) -> dict[str, float]:
    spec = TeacherSpec(kind="openai", base_url=url, model="fake-model",
                       concurrency=concurrency, timeout_s=30, max_tokens=64)
    requests = [Request(messages=[{"role": "user", "content": f"c{concurrency} question {i}"}])
                for i in range(n)]
    with Store(db) as store, open_teacher(spec, store=store, run_id=None, stage="bench") as teacher:
        # Warm up: imports and opening `concurrency` connections are paid once per job.
        teacher.chat_many([Request(messages=[{"role": "user", "content": f"warm {concurrency} {i}"}])
                           for i in range(concurrency)])
        cpu0, t0 = time.process_time(), time.perf_counter()
        results = teacher.chat_many(requests)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert all(r.ok and not r.cached for r in results), "every request must succeed, uncached"
    achieved = n / wall
    ideal = concurrency / delay
    return {"n": n, "wall": wall, "achieved": achieved, "ideal": ideal,
            "efficiency": achieved / ideal, "cpu_ms": 1000 * cpu / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.2, help="server delay per answer (s)")
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    proc, url = start_server(args.delay)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            figures = {}
            for c in (1, 8, 32, 64):
                n = 50 if c == 1 else args.requests
                f = measure(url, Path(tmp) / "bench.db", c, n, args.delay)
                figures[c] = f
                print(f"c={c:<3} n={n:<4} wall {f['wall']:6.2f} s  achieved {f['achieved']:7.1f} "
                      f"req/s  ideal {f['ideal']:6.1f} req/s  efficiency {f['efficiency']:.3f}  "
                      f"client CPU {f['cpu_ms']:.2f} ms/request", flush=True)
    finally:
        proc.terminate()
        proc.wait(5)
    print(f"teacher_efficiency_c64: {figures[64]['efficiency']:.3f}")


if __name__ == "__main__":
    main()
