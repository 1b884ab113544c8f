"""Entry point of the embedded teacher's server process; it dies with its parent.

``python -m engine.teacher.guard --parent PID [--serve NAME] -- <server arguments>`` asks the
Linux kernel to SIGKILL this process when its parent dies (``PR_SET_PDEATHSIG``), and also
runs a watchdog thread that exits as soon as the parent pid changes (macOS, Windows, or
a parent that died before prctl ran). So a ``kill -9`` of the engine never leaves a
llama.cpp server holding memory and a port. The server's API key comes from the
environment (``DISTILLAB_SERVER_KEY``), not the command line, which other users can read.
``--serve`` names what runs, from ``SERVES``: ``llama`` (llama-cpp-python's server, the
default) or ``lab`` (the lab's scripted teacher, ``engine.lab.server``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
KEY_ENV = "DISTILLAB_SERVER_KEY"
# The watchdog polls twice a second: the server is gone within 0.5 s of its parent.
POLL_S = 0.5


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watchdog below still covers it

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(POLL_S)

    if os.getppid() != parent:  # the parent may already be gone
        os._exit(0)
    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _serve_llama(server_args: list[str], key: str | None) -> None:
    if key:
        server_args.append(f"--api_key={key}")  # one word: a key may start with "-"
    from llama_cpp.server.__main__ import main as serve

    sys.argv = ["llama_cpp.server", *server_args]
    serve()  # type: ignore[no-untyped-call]


def _serve_lab(server_args: list[str], key: str | None) -> None:
    from engine.lab.server import main as serve

    serve(server_args, api_key=key)


SERVES = {"llama": _serve_llama, "lab": _serve_lab}
USAGE = "usage: python -m engine.teacher.guard --parent PID [--serve NAME] -- SERVER_ARGS"


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[0] != "--parent" or "--" not in argv:
        raise SystemExit(USAGE)
    head, server_args = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    parent = int(head[1])
    serve = head[3] if len(head) == 4 and head[2] == "--serve" else "llama"
    if len(head) not in (2, 4) or serve not in SERVES:
        raise SystemExit(USAGE + f" (NAME: {', '.join(SERVES)})")
    if os.getppid() != parent:
        raise SystemExit(0)
    _die_with_parent(parent)
    key = os.environ.pop(KEY_ENV, None)
    SERVES[serve](server_args, key)


if __name__ == "__main__":
    main(sys.argv[1:])
