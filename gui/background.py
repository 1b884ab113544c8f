"""Runs a slow call (a network probe, a model list) off the GUI thread; the result comes back
on the GUI thread.

A plain Python thread pool does the work and a QTimer on the GUI thread polls for the
result, so no Qt object crosses threads and no QThread is left behind. The calls given
here are the hooks, which return a HookResult and never raise.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, QTimer

_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="distillab-gui-io")
POLL_MS = 50


def run_in_background(parent: QObject, call: Callable[..., Any], *args: Any,
                      on_done: Callable[[Any], None]) -> Future[Any]:
    """Start ``call(*args)`` in the pool; ``on_done(result)`` runs on the GUI thread."""
    future = _pool.submit(call, *args)
    timer = QTimer(parent)
    timer.setInterval(POLL_MS)

    def check() -> None:
        if future.done():
            timer.stop()
            timer.deleteLater()
            on_done(future.result())

    timer.timeout.connect(check)
    timer.start()
    return future
