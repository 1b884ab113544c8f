"""Silences the model libraries' own console output inside a job.

Progress, metrics and problems reach the user as engine events (progress bars, plots,
the run log); the libraries' progress bars, per-step prints and deprecation notes would
only interleave with them. Two of them are set up as soon as the engine is imported
(``quiet_imports``), because any import may trigger them: bitsandbytes' warning about the
optional ``kernels`` package, logged while bitsandbytes loads (peft and trl load it), and
tqdm's off switch, which tqdm reads once, when it is first imported.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

# bitsandbytes looks for the optional `kernels` package (which fetches code from the hub)
# on a CPU with AVX512-BF16 and warns once per process when it cannot use it; its own CPU
# code is used instead, so the line says nothing a user can act on.
_BNB_LOGGERS = ("bitsandbytes", "bitsandbytes.backends.cpu.ops")


def quiet_imports() -> None:
    """What must be in place before the libraries load (engine/__init__.py calls it)."""
    for name in _BNB_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # some loaders (transformers' GGUF dequantisation) use tqdm directly; ours use rich
    os.environ.setdefault("TQDM_DISABLE", "1")


def _tqdm_off() -> None:
    """tqdm reads TQDM_DISABLE when it is first imported; if something imported it before
    the engine set the variable, give its bars the same default now (as tqdm itself does)."""
    if "tqdm.std" not in sys.modules or os.environ.get("TQDM_DISABLE") != "1":
        return
    from functools import partialmethod

    from tqdm.std import tqdm

    if not getattr(tqdm.__init__, "_distillab_off", False):
        off = partialmethod(tqdm.__init__, disable=True)
        off._distillab_off = True  # type: ignore[attr-defined]
        tqdm.__init__ = off


def quiet_libraries() -> None:
    quiet_imports()
    _tqdm_off()
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(transformers|trl|peft)")
