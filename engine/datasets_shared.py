"""Where the shared public data sets live (GSM8K, MBPP, LeetCode, MATH, AQuA, StrategyQA).

Benchmarks and real-data tests read them in place from ``../shared/datasets`` beside the
project (``DISTILLAB_DATASETS`` overrides); nothing is copied into the project.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from engine.errors import DataError
from engine.paths import PROJECT_ROOT, data_dir, is_checkout


def datasets_dir() -> Path:
    """The shared data sets folder: ``DISTILLAB_DATASETS``, else ``<checkout>/../shared/datasets``
    in a checkout, else ``datasets/`` in the user data dir (an installed wheel)."""
    env = os.environ.get("DISTILLAB_DATASETS")
    if env:
        return Path(env)
    return PROJECT_ROOT.parent / "shared" / "datasets" if is_checkout() else data_dir() / "datasets"


def dataset_file(relative: str) -> Path:
    """A file inside the shared data sets folder; a clear error if it is not there."""
    path = datasets_dir() / relative
    if not path.is_file():
        raise DataError(f"shared data set file {path} not found",
                        "set DISTILLAB_DATASETS to the folder holding gsm8k/, mbpp/, ... ")
    return path


def read_records(relative: str) -> list[dict[str, Any]]:
    """Records of a shared JSONL (``.jsonl``, ``.jsonl.gz``, or one JSON object a line)."""
    path = dataset_file(relative)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
