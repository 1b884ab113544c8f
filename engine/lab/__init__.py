"""The controlled lab: a synthetic task family and a scripted teacher on the OpenAI protocol.

On the machines people first start Distillab on, a 135M student solves nothing of a real
benchmark, so no paradigm's effect can show. The lab gives a problem family whose
difficulty is a dial (``arith``: multi-step arithmetic word problems in the GSM8K
shape) and a teacher that is always right, or wrong at a set rate in a set style,
served over HTTP on loopback so the real client, cache, budget, audit and resume run.

Modules: ``arith`` (the family and its generator), ``chain`` (reading step chains and
finding the first wrong step), ``mistakes`` (realistic slips), ``why`` (the open-ended
"explain why this total is right" family for REER), ``protocol`` (which request a prompt
is), ``scripted`` (the teacher's answers), ``tokens`` (counts with the embedded
student's tokenizer), ``server`` (the HTTP server), ``launch`` (starting it for a run),
``cli`` (``distillab lab make | teacher``). See docs/lab.md. Lab results check pipelines
and compare methods under control; they are not evidence about real teachers or tasks.
"""

from __future__ import annotations

from typing import Any


def generate_records(family: str, n: int, *, digits: int, ops: int, mix: str, distractors: int,
                     seed: int) -> list[dict[str, Any]]:
    """``n`` generated problems as data set records (what ``distillab lab make`` writes);
    ValueError names the dial that is out of range."""
    from engine.lab import arith, why

    dials = arith.Dials(digits=digits, ops=ops, mix=mix, distractors=distractors)
    items = arith.generate(n, dials, seed)
    return [it.record() if family == "arith" else why.record(it) for it in items]
