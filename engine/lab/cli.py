"""`distillab lab make | teacher`: write a lab data set, or run the lab teacher alone.

``engine.cli`` registers the ``lab`` verb and hands over to ``run_lab_verb``. Examples::

    distillab lab make arith --n 2000 --digits 3 --ops 3 --seed 0 -o arith.jsonl
    distillab lab make why --n 200 --ops 3 -o why.jsonl      # REER's open-ended family
    distillab lab teacher --port 8765 --error-rate 0.2 --style carry
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from engine.errors import DistillabError

FAMILIES = ("arith", "why")


def add_lab_verbs(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lab_verb", required=True, metavar="ACTION")
    p = sub.add_parser("make", help="Write a lab data set (JSONL) that any recipe loads.")
    p.add_argument("family", choices=FAMILIES,
                   help="arith: multi-step arithmetic word problems; why: 'explain why this "
                        "total is right' over arith problems (open-ended, for REER)")
    p.add_argument("--n", type=int, default=1000, help="number of problems (all distinct)")
    p.add_argument("--digits", type=int, default=3, help="digits of each number (1-6)")
    p.add_argument("--ops", type=int, default=3, help="operations per problem (2-5)")
    p.add_argument("--mix", default="+-x", help="operations that may occur: letters of "
                   "'+-x' (x: times a one-digit number)")
    p.add_argument("--distractors", type=int, default=0,
                   help="sentences whose numbers play no part (0-4)")
    p.add_argument("--seed", type=int, default=0, help="same seed and dials, same problems")
    p.add_argument("-o", "--out", type=Path, required=True, help="the .jsonl file to write")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    from engine.lab.server import options_parser

    sub.add_parser("teacher", parents=[options_parser()],
                   help="Run the scripted lab teacher alone on 127.0.0.1 (Ctrl-C stops it); "
                        "use it as an OpenAI-compatible endpoint with model 'lab'.")


def _make(args: argparse.Namespace, console: Any) -> int:
    from engine.lab import arith, generate_records

    if args.out.exists() and not args.force:
        raise DistillabError(f"{args.out} exists", "choose another -o, or add --force to "
                             "overwrite it")
    try:
        records = generate_records(args.family, args.n, digits=args.digits, ops=args.ops,
                                   mix=args.mix, distractors=args.distractors, seed=args.seed)
    except ValueError as exc:
        raise DistillabError(f"lab make {args.family}: {exc}",
                             "see `distillab lab make --help` for each dial's range") from None
    dials = arith.Dials(digits=args.digits, ops=args.ops, mix=args.mix,
                        distractors=args.distractors)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    os.replace(tmp, args.out)  # a killed run never leaves half a data set under the name
    fields = ("question, answer, solution, steps" if args.family == "arith"
              else "query, reference (and the arith fields)")
    console.print(f"wrote {len(records)} {args.family} problems to {args.out} "
                  f"(digits {dials.digits}, ops {dials.ops}, mix {dials.mix}, distractors "
                  f"{dials.distractors}, seed {args.seed}); fields: {fields}", markup=False)
    return 0


def _teacher(args: argparse.Namespace, console: Any) -> int:
    from engine.lab.server import main, options_of

    try:
        options = options_of(args)
    except ValueError as exc:
        raise DistillabError(f"lab teacher: {exc}", "see `distillab lab teacher --help`") from None

    def ready(port: int) -> None:
        console.print(f"lab teacher on http://127.0.0.1:{port}/v1 (model 'lab', "
                      f"{options.identity}); Ctrl-C stops it", markup=False, soft_wrap=True)
        sys.stdout.flush()  # a script reading our output needs the address now

    argv = ["--port", str(args.port), "--error-rate", repr(args.error_rate), "--style",
            args.style, "--seed", str(args.seed), "--latency", repr(args.latency)]
    try:
        main(argv, on_ready=ready)
    except OSError as exc:
        raise DistillabError(f"lab teacher: cannot listen on port {args.port}: {exc.strerror}",
                             "choose another --port, or 0 for a free one") from None
    return 0


def run_lab_verb(args: argparse.Namespace, console: Any) -> int:
    if args.lab_verb == "make":
        return _make(args, console)
    return _teacher(args, console)
