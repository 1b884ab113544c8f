"""`distillab teacher check | budget | set-key`: the teacher verbs, kept beside the teacher.

``engine.cli`` registers the ``teacher`` verb and hands over to ``run_teacher_verb``.
Imports of the client and store happen inside the commands, so ``distillab --help``
stays fast.
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path
from typing import Any


def add_teacher_verbs(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="teacher_verb", required=True, metavar="ACTION")
    p = sub.add_parser("check", help="Probe an endpoint: models, latency, logprobs, "
                       "reasoning_content, chat format.")
    p.add_argument("--endpoint", required=True, help="base URL, e.g. http://localhost:8000/v1")
    p.add_argument("--model", required=True, help="model name at the endpoint")
    p.add_argument("--api-key-env", default=None,
                   help="environment variable holding the key (else the keyring)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    p = sub.add_parser("budget", help="Set a run's teacher budget (then `distillab resume`).")
    p.add_argument("run_id", type=int)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--max-usd", type=float, default=None)
    p.add_argument("--db", type=Path, default=argparse.SUPPRESS, help="project database")
    p = sub.add_parser("set-key", help="Store an endpoint's API key in the OS keyring "
                       "(read from the terminal, never echoed).")
    p.add_argument("--endpoint", required=True)


def run_teacher_verb(args: argparse.Namespace, console: Any) -> int:
    if args.teacher_verb == "check":
        from engine.teacher.keys import resolve_key
        from engine.teacher.probe import probe_endpoint

        endpoint = args.endpoint.rstrip("/")
        key = resolve_key(endpoint, args.api_key_env)
        report = probe_endpoint(endpoint, args.model, key, timeout_s=args.timeout)
        for line in report.lines():
            console.print(line, markup=False)
        return 0 if report.chat_format else 1
    if args.teacher_verb == "budget":
        from engine.store import Store
        from engine.store import calls as call_rows
        from engine.teacher.budget import raise_budget

        with Store(args.db) as store:
            cap = raise_budget(store, args.run_id, max_tokens=args.max_tokens,
                               max_usd=args.max_usd)
            spent = call_rows.totals(store, args.run_id)
        console.print(f"run {args.run_id}: teacher budget now max_tokens={cap.max_tokens} "
                      f"max_usd={cap.max_usd}; paid so far {spent.tokens:,} tokens, "
                      f"${spent.cost_usd:.4f}. Go on: distillab resume {args.run_id} "
                      f"--db {args.db}", markup=False)
        return 0
    from engine.teacher.keys import store_key

    store_key(args.endpoint.rstrip("/"), getpass.getpass(f"API key for {args.endpoint}: "))
    console.print(f"stored the key for {args.endpoint} in the OS keyring", markup=False)
    return 0
