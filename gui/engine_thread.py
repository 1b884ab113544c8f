"""The engine thread: a QThread that supervises one job's worker process (engine.jobs)
and turns its events into Qt signals on the GUI thread.

The worker is a separate process, so model code never runs in the window's process and a
crash there arrives as a JobFailed event (engine.jobs makes one up when the worker dies).
This thread only waits on the event queue; the GUI thread never blocks on the job. Every
started supervisor is tracked until its thread ends, so tests can fail on a leaked thread.
"""

from __future__ import annotations

import threading
from typing import ClassVar

from PySide6.QtCore import QObject, QThread, Signal

from engine import events as ev
from engine.jobs import Job, JobSpec

# How long one wait on the event queue lasts: short enough that Cancel and Kill are
# acted on within ~0.1 s, long enough that an idle job costs no CPU to speak of.
POLL_S = 0.1


class JobSupervisor(QThread):
    """Starts ``Job(spec)`` in its own thread and relays its events until it ends."""

    received = Signal(object)  # every engine.events.Event, in order
    ended = Signal(object)  # the final JobFinished or JobFailed (StudyFinished for a study)

    _alive: ClassVar[set[JobSupervisor]] = set()
    _alive_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, spec: JobSpec, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.job: Job | None = None
        self.run_id: int | None = spec.resume_run_id
        self._cancel = threading.Event()
        self._kill = threading.Event()
        self.finished.connect(self._forget)

    def start_job(self) -> None:
        with self._alive_lock:
            JobSupervisor._alive.add(self)
        self.start()

    def run(self) -> None:
        job = Job(self.spec)
        self.job = job
        final: ev.Event | None = None
        cancel_sent = False
        while final is None:
            if self._cancel.is_set() and not cancel_sent:
                job.cancel()
                cancel_sent = True
            if self._kill.is_set() and job.alive:
                job.kill()
            for event in job.events(timeout=POLL_S):
                if isinstance(event, ev.RunStarted):
                    self.run_id = event.run_id
                self.received.emit(event)
                if job.is_final(event):  # a study's runs each finish before it does
                    final = event
        job.join(10)
        if job.alive:  # a worker that sent its last event but hangs on exit
            job.kill()
        self.ended.emit(final)

    def cancel(self) -> None:
        """Ask the run to stop after the unit in flight (resumable)."""
        self._cancel.set()

    def kill(self) -> None:
        """Hard stop: the worker process is killed; the run can be resumed."""
        self._kill.set()

    def _forget(self) -> None:
        with self._alive_lock:
            JobSupervisor._alive.discard(self)

    @classmethod
    def running(cls) -> list[JobSupervisor]:
        """Supervisors whose thread has not ended (a test asserts this is empty)."""
        with cls._alive_lock:
            return [s for s in cls._alive if s.isRunning() or not s.isFinished()]
