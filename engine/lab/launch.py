"""Starting the lab teacher for a run: a guarded child process, like the embedded teacher.

``LabProcess(options).start()`` runs ``engine.lab.server`` through
``engine.teacher.guard --serve lab`` on a free loopback port with a session key, waits
until it answers, and is stopped by ``Teacher.close()``; it dies with its parent even
after ``kill -9`` (the guard's watchdog). ``open_teacher`` uses it for ``kind: lab``.
"""

from __future__ import annotations

from engine.lab.scripted import LabOptions
from engine.teacher.local import GuardedServer

# The server imports llama.cpp's bindings and reads SmolLM2's vocabulary: ~1 s here.
START_TIMEOUT_S = 60.0


class LabProcess(GuardedServer):
    """The scripted teacher's server process."""

    serve = "lab"
    program = "lab teacher"

    def __init__(self, options: LabOptions) -> None:
        super().__init__()
        self.options = options
        self.name = f"lab teacher ({options.identity})"

    def server_args(self) -> list[str]:
        o = self.options
        return ["--port", str(self.port), "--error-rate", repr(o.error_rate), "--style", o.style,
                "--seed", str(o.seed), "--latency", repr(o.latency_s)]

    def failure_hint(self) -> str:
        return "the log above says why; `distillab lab teacher` runs it in the foreground"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> LabProcess:
        super().start(timeout_s)
        return self
