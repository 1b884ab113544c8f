"""A scripted teacher and small code problems for the explain paradigm's tests.

The teacher (our fake OpenAI-protocol server) writes a four-section editorial for every
problem except those whose statement says MALFORMED (prose without headings), and as the
Coder returns the right program for problems listed in ``GOOD`` and a wrong one otherwise.
So solve@k is known in advance: the share of evaluation problems in GOOD.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

EDITORIAL = ("## Problem Analysis\nLinear scan, O(n).\n\n## Conceptual Evolution\nStart from the "
             "naive loop.\n\n## Key Insights\nAdd the constant.\n\n## Step-by-Step Algorithm\n"
             "1. Take x.\n2. Return x plus the constant.")


def problems(n: int = 12) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        name = f"add_{i}"
        statement = f"Write `{name}(x)` that returns x + {i}."
        if i == 1:
            statement += " MALFORMED"
        rows.append({"id": f"p{i}", "problem": statement, "entry_point": name,
                     "solution": f"def {name}(x):\n    return x + {i}\n",
                     "tests": [f"assert {name}(1) == {1 + i}", f"assert {name}(-2) == {i - 2}"],
                     "difficulty": ["easy", "medium", "hard"][i % 3],
                     "date": f"20{18 + i % 7}-0{1 + i % 9}-01"})
    return rows


GOOD = {f"add_{i}" for i in range(12) if i % 2 == 0}


def respond(request: dict[str, Any], sample: int) -> str:
    prompt = str(request["messages"][-1]["content"])
    if "Write exactly these four sections" in prompt:
        return "This one is easy, just add." if "MALFORMED" in prompt else EDITORIAL
    match = re.search(r"must define `(\w+)`", prompt)
    if match:
        name = match.group(1)
        body = f"x + {name.split('_')[1]}" if name in GOOD else "x - 1000"
        return f"Here you go:\n```python\ndef {name}(x):\n    return {body}\n```\n"
    return "ok"


def recipe_text(data: Path, server_url: str, student: Path, **stages: dict[str, Any]) -> str:
    stage_lines = {"plan": {"plans": 2, "max_new_tokens": 8, "batch_size": 4},
                   "code": {"coder": "teacher", "codes_per_plan": 2, "batch": 2},
                   "evaluate": {"k": [1, 2, 4], "budget": 4, "timeout_s": 5, "workers": 2},
                   **stages}
    body = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in stage_lines.items())
    return (
        "schema_version: 1\nname: explain-test\nparadigm: explain\nseed: 0\n"
        f"dataset:\n  path: {data}\n  split: {{train: 0.5, validation: 0.166667, test: 0.333333}}\n"
        f"teacher:\n  kind: openai\n  base_url: {server_url}\n  model: fake-model\n"
        "  api_key_env: DISTILLAB_TEST_KEY\n  use_keyring: false\n  concurrency: 2\n"
        "  max_tokens: 64\n  timeout_s: 20\n"
        f"student:\n  model: {student}\n  quantization: none\n  max_length: 512\n"
        "  gradient_checkpointing: false\n  lora: {r: 4, alpha: 8, dropout: 0.0}\n"
        "training: {max_steps: 4, batch_size: 2, grad_accum: 1, save_steps: 1, eval_steps: 2,\n"
        "           logging_steps: 1, learning_rate: 0.001}\n"
        "evaluation: {split: test}\n"
        f"stages:\n{body}"
    )
