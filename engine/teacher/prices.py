"""Teacher prices: USD per million input and output tokens, per model; editable.

Built-in defaults cover common hosted models (list prices of late 2025; they change, so
check them). A ``prices.json`` in the user data dir (or the file ``DISTILLAB_PRICES``
names) overrides and extends them::

    {"gpt-4o": {"input": 2.5, "output": 10.0}, "my-vllm-model": {"input": 0, "output": 0}}

and a recipe's ``teacher.price_input_per_m`` / ``price_output_per_m`` override both. A model
name matches its exact entry, else the longest entry it starts with (so
``gpt-4o-2024-08-06`` is priced as ``gpt-4o``). The embedded teacher and models on this
machine (localhost) cost 0. An unknown hosted model has no price (cost is not recorded).
Answers of a batch job (``teacher.batch``) are priced at ``Price.batch_rate()``, half the
list price.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from engine.errors import DistillabError
from engine.paths import data_dir

PRICES_FILE = "prices.json"

# model: (USD per 1M input tokens, USD per 1M output tokens)
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "deepseek-chat": (0.27, 1.10),
    "deepseek-reasoner": (0.55, 2.19),
}
# Batch jobs (teacher.batch, engine/teacher/batch.py) cost this share of the list price: the
# OpenAI Batch API's 50% discount.
BATCH_DISCOUNT = 0.5
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


@dataclass(frozen=True)
class Price:
    input_per_m: float
    output_per_m: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_per_m + tokens_out * self.output_per_m) / 1e6

    def batch_rate(self) -> Price:
        """The price of the same model through the Batch API (``BATCH_DISCOUNT`` of this)."""
        return Price(self.input_per_m * BATCH_DISCOUNT, self.output_per_m * BATCH_DISCOUNT)


FREE = Price(0.0, 0.0)


def prices_path() -> Path:
    """The user's price table: ``DISTILLAB_PRICES`` (the GUI's Settings set it), else
    prices.json in the data dir."""
    env = os.environ.get("DISTILLAB_PRICES")
    return Path(env) if env else data_dir() / PRICES_FILE


def load_prices(path: Path | None = None) -> dict[str, Price]:
    """The built-in table overlaid with the user's prices.json (if there is one)."""
    table = {m: Price(*p) for m, p in DEFAULT_PRICES.items()}
    file = path or prices_path()
    if not file.is_file():
        return table
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        for model, entry in data.items():
            table[str(model)] = Price(float(entry["input"]), float(entry["output"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DistillabError(f"cannot read the price table {file}: {exc}",
                             'each entry must look like "model": {"input": 2.5, "output": 10}') \
            from None
    return table


def is_local(base_url: str | None) -> bool:
    return base_url is not None and (urlparse(base_url).hostname or "") in LOCAL_HOSTS


def price_for(model: str, *, base_url: str | None, embedded: bool = False,
              override: tuple[float | None, float | None] = (None, None),
              table: dict[str, Price] | None = None) -> Price | None:
    """The price of ``model`` at ``base_url``; None when it is unknown (hosted, not listed)."""
    if override[0] is not None or override[1] is not None:
        return Price(override[0] or 0.0, override[1] or 0.0)
    if embedded:
        return FREE
    prices = load_prices() if table is None else table
    if model in prices:
        return prices[model]
    prefixes = [m for m in prices if model.startswith(m)]
    if prefixes:
        return prices[max(prefixes, key=len)]
    return FREE if is_local(base_url) else None
