"""Put a model in evaluation mode for a block of code and give it back as it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """``model.eval()`` inside the block; the training flag it had is restored after it,
    also when the block raises (scoring in the middle of training must not leave dropout off)."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
