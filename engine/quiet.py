"""Silences the model libraries' own console output inside a job.

Progress, metrics and problems reach the user as engine events (progress bars, plots,
the run log); the libraries' progress bars, per-step prints and deprecation notes would
only interleave with them.
"""

from __future__ import annotations

import logging
import warnings


def quiet_libraries() -> None:
    import os

    # some loaders (transformers' GGUF dequantisation) use tqdm directly; ours use rich
    os.environ.setdefault("TQDM_DISABLE", "1")
    # bitsandbytes looks for the optional `kernels` package (which fetches from the hub and
    # is not installed on purpose) and warns once per process; its CPU fallback is used.
    # Set before the imports below, which may load bitsandbytes.
    for name in ("bitsandbytes", "bitsandbytes.backends.cpu.ops"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(transformers|trl|peft)")
