"""Keep full garbage collections from stalling a batch of teacher requests.

A batch allocates a few hundred small objects per request, so Python's cyclic collector
runs often, and every so often a full (generation 2) collection rescans every object
the process holds: the imported libraries alone are ~100k objects (more with torch),
20-60 ms on the 2-core test machine, during which no answer is read and no request
sent. ``frozen_while`` moves everything alive when a batch starts into the collector's
permanent generation (``gc.freeze``, O(1)), so collections during the batch scan only
what the batch made, and gives it back (``gc.unfreeze``) when the last batch in the
process ends. Nothing is leaked: cyclic garbage from before the batch is collected after
it. Nested or concurrent batches (threads) share one freeze.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_depth = 0


@contextlib.contextmanager
def frozen_while() -> Iterator[None]:
    """Objects alive on entry are skipped by collections until the (last) exit."""
    global _depth
    with _lock:
        if _depth == 0:
            gc.freeze()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.unfreeze()
