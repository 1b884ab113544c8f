"""Teacher endpoint pool throughput: the same N requests through 3 servers vs 1.

Each server is tests/fake_openai_server.py in its own process, bound by its "GPU": it
answers one chat request at a time, each after ``--delay`` seconds (``--serial``), so one
server does at most 1/delay requests a second whatever the client sends, and a pool of
three can do three times that. The client is a normal Teacher (``teacher.endpoints``,
engine/teacher/pool.py) with cache look-ups and audit rows in a real SQLite file (temp
dir); fresh prompts each time, so nothing comes from the cache.

    python bench/teacher_pool.py [--delay 0.05] [--requests 120] [--concurrency 8]

The last line is ``teacher_pool_speedup_3: <requests/s with 3 servers / with 1>``; the goal
is >= 2.7.
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
                             "--delay", str(delay), "--serial"], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"fake server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"


def measure(urls: list[str], db: Path, n: int, concurrency: int, tag: str) -> tuple[float, str]:
    """(requests/s, per-server summary) for n fresh requests through a pool of ``urls``."""
    spec = TeacherSpec(kind="openai", endpoints=[{"base_url": u} for u in urls],
                       model="fake-model", concurrency=concurrency, timeout_s=60,
                       max_tokens=64)
    requests = [Request(messages=[{"role": "user", "content": f"{tag} question {i}"}])
                for i in range(n)]
    with Store(db) as store, open_teacher(spec, store=store, stage="bench") as teacher:
        teacher.chat_many([Request(messages=[{"role": "user", "content": f"{tag} warm"}])])
        t0 = time.perf_counter()
        results = teacher.chat_many(requests)
        seconds = time.perf_counter() - t0
        summary = teacher.pool.summary() if teacher.pool is not None else ""
    failed = sum(not r.ok for r in results)
    if failed:
        raise SystemExit(f"{failed} requests failed")
    return n / seconds, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per request, per "
                        "server (one request at a time)")
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    servers = [start_server(args.delay) for _ in range(3)]
    urls = [url for _, url in servers]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bench.db"
            one, _ = measure(urls[:1], db, args.requests, args.concurrency, "one")
            three, summary = measure(urls, db, args.requests, args.concurrency, "three")
    finally:
        for proc, _ in servers:
            proc.kill()
            proc.wait()
    ideal = 1 / args.delay
    print(f"servers: 3 fake OpenAI servers, one request at a time, {args.delay * 1000:.0f} ms "
          f"each; {args.requests} requests, concurrency {args.concurrency}")
    print(f"1 server:  {one:7.1f} requests/s (ideal {ideal:.1f})")
    print(f"3 servers: {three:7.1f} requests/s (ideal {3 * ideal:.1f})")
    print(f"per server (3): {summary}")
    print(f"teacher_pool_speedup_3: {three / one:.2f}")


if __name__ == "__main__":
    main()
