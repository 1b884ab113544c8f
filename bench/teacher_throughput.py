"""Teacher client throughput: achieved requests/s against the ideal, and client CPU per request.

A fake OpenAI-protocol server (tests/fake_openai_server.py, in its own process so its
CPU is not counted as ours) answers every chat request after a fixed delay. With
``c`` requests in flight the ideal rate is c / delay. The client does everything a real
run does: cache look-ups and one audit row per answer in a real SQLite file (temp dir).

    python bench/teacher_throughput.py [--delay 0.2] [--requests 500]

Concurrency 1 uses 50 requests (500 would take 100 s and say nothing more). Concurrency
32 and 64 run three times each (fresh prompts, so nothing comes from the cache) and the
median run is reported: one run is under 2 s, and a single stall of the machine moves it
by several percent. For scale,
the same 500 requests at concurrency 64 are then sent by a bare client (pre-built bytes
on raw asyncio sockets, JSON parsed, nothing else): what this server and machine allow a
Python client at best. The last line is ``teacher_efficiency_c64: <achieved/ideal>``;
the goal is >= 0.90.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


def measure(url: str, db: Path, concurrency: int, n: int, delay: float,
            rep: int = 0) -> dict[str, float]:
    spec = TeacherSpec(kind="openai", base_url=url, model="fake-model",
                       concurrency=concurrency, timeout_s=30, max_tokens=64)
    requests = [Request(messages=[{"role": "user",
                                   "content": f"c{concurrency} r{rep} question {i}"}])
                for i in range(n)]
    with Store(db) as store, open_teacher(spec, store=store, run_id=None, stage="bench") as teacher:
        # Warm up: imports and opening `concurrency` connections are paid once per job.
        teacher.chat_many([Request(messages=[{"role": "user",
                                              "content": f"warm {concurrency} r{rep} {i}"}])
                           for i in range(concurrency)])
        cpu0, t0 = time.process_time(), time.perf_counter()
        results = teacher.chat_many(requests)
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert all(r.ok and not r.cached for r in results), "every request must succeed, uncached"
    achieved = n / wall
    ideal = concurrency / delay
    return {"n": n, "wall": wall, "achieved": achieved, "ideal": ideal,
            "efficiency": achieved / ideal, "cpu_ms": 1000 * cpu / n}


def bare_client(url: str, concurrency: int, n: int, delay: float) -> dict[str, float]:
    """The baseline: one pre-built request over ``concurrency`` keep-alive sockets."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    body = json.dumps({"model": "fake-model", "max_tokens": 64,
                       "messages": [{"role": "user", "content": "bare question"}]}).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\nContent-Length: "
               + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     todo: list[int]) -> None:
        while todo:
            todo.pop()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            json.loads(await reader.readexactly(length))

    async def run() -> dict[str, float]:
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
        warm = list(range(concurrency))
        await asyncio.gather(*(worker(r, w, warm) for r, w in conns))
        todo = list(range(n))
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(r, w, todo) for r, w in conns))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        for _, w in conns:
            w.close()
        return {"wall": wall, "efficiency": n / wall / (concurrency / delay),
                "cpu_ms": 1000 * cpu / n}

    return asyncio.run(run())


def _effs(runs: list[dict[str, float]]) -> str:
    return ", ".join(f"{r['efficiency']:.3f}" for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.2, help="server delay per answer (s)")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs at concurrency 32 and 64 (and of the bare client); the "
                             "median is reported")
    args = parser.parse_args()
    proc, url = start_server(args.delay)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            figures = {}
            for c in (1, 8, 32, 64):
                n = 50 if c == 1 else args.requests
                reps = args.repeats if c >= 32 else 1
                runs = sorted((measure(url, Path(tmp) / "bench.db", c, n, args.delay, rep)
                               for rep in range(reps)), key=lambda f: f["efficiency"])
                f = figures[c] = runs[len(runs) // 2]
                spread = f"  (runs: {_effs(runs)})" if reps > 1 else ""
                print(f"c={c:<3} n={n:<4} wall {f['wall']:6.2f} s  achieved {f['achieved']:7.1f} "
                      f"req/s  ideal {f['ideal']:6.1f} req/s  efficiency {f['efficiency']:.3f}  "
                      f"client CPU {f['cpu_ms']:.2f} ms/request{spread}", flush=True)
            bares = sorted((bare_client(url, 64, args.requests, args.delay)
                            for _ in range(args.repeats)), key=lambda f: f["efficiency"])
            bare = bares[len(bares) // 2]
            print(f"bare asyncio client c=64 n={args.requests}: wall {bare['wall']:.2f} s  "
                  f"efficiency {bare['efficiency']:.3f}  client CPU {bare['cpu_ms']:.2f} "
                  f"ms/request (runs: {_effs(bares)}); "
                  f"ours reaches {figures[64]['efficiency'] / bare['efficiency']:.3f} of it",
                  flush=True)
    finally:
        proc.terminate()
        proc.wait(5)
    print(f"teacher_efficiency_c64: {figures[64]['efficiency']:.3f}")


if __name__ == "__main__":
    main()
