"""The playground: ask one question to up to three models of a run and stream the answers.

The models come from a run's recipe: ``student`` (the base student with the run's newest
adapter artifact: the trained one, or a checkpoint kept in the Run monitor), ``base`` (the
same student without an adapter) and ``teacher`` (the recipe's endpoint). ``run_playground``
answers with each in turn, sending ``Piece`` events as text arrives and a ``Done`` per
model; ``PlaygroundJob`` runs it in a spawned worker process, so the GUI imports no torch
and a crash there cannot take the window down. ``save_exchange`` stores the answers as
traces (split into steps) of the project's "playground" run, where they can be labelled
like any other trace.

Knows nothing of Qt. The teacher is asked without the store (no cache, no audit row): a
playground question is not part of any run's cost.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from engine.steps import split_steps
from engine.store import StepIn, Store, runs, traces
from engine.store.db import now

MODELS = ("student", "base", "teacher")
LABELS = {"student": "trained student", "base": "base student", "teacher": "teacher"}
PLAYGROUND = "playground"


@dataclass(frozen=True)
class Settings:
    """Sampling settings shared by the models (temperature 0 = greedy)."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0


@dataclass(frozen=True)
class PlaygroundSpec:
    db_path: str
    run_id: int
    models: tuple[str, ...]
    question: str
    settings: Settings = field(default_factory=Settings)
    system: str | None = None


@dataclass(frozen=True)
class Piece:
    slot: int
    text: str


@dataclass(frozen=True)
class Done:
    """One model's whole answer (``error``: why there is none, with the fix)."""

    slot: int
    model: str
    text: str
    tokens: int
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class Finished:
    pass


def run_adapter(store: Store, run_id: int) -> Path | None:
    """The run's newest adapter artifact (what "keep this checkpoint" sets)."""
    found = [a for a in runs.artifacts(store, run_id) if a["kind"] == "adapter"]
    return Path(found[-1]["path"]) if found else None


def _messages(spec: PlaygroundSpec) -> list[dict[str, str]]:
    system = [{"role": "system", "content": spec.system}] if spec.system else []
    return [*system, {"role": "user", "content": spec.question}]


def _student(spec: PlaygroundSpec, student: Any, adapter: Path | None, slot: int,
             send: Any) -> Done:
    import torch
    from transformers import TextIteratorStreamer

    from engine.student import load_student
    from engine.student.chat import prompt_ids

    t0 = time.monotonic()
    model, tokenizer = load_student(student, for_training=False, adapter=adapter)
    ids = torch.tensor([prompt_ids(tokenizer, _messages(spec))]).to(
        next(model.parameters()).device)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    s = spec.settings
    kwargs: dict[str, Any] = dict(input_ids=ids, attention_mask=torch.ones_like(ids),
                                  max_new_tokens=s.max_new_tokens, streamer=streamer,
                                  do_sample=s.temperature > 0, pad_token_id=tokenizer.pad_token_id)
    if s.temperature > 0:
        kwargs.update(temperature=s.temperature, top_p=s.top_p, top_k=0)
    torch.manual_seed(s.seed)
    out: dict[str, Any] = {}

    def generate() -> None:
        try:
            with torch.inference_mode():
                out["ids"] = model.generate(**kwargs)
        except Exception as exc:  # surfaces as this model's error
            out["error"] = exc
            streamer.end()  # type: ignore[no-untyped-call]

    worker = threading.Thread(target=generate, daemon=True)
    worker.start()
    text = ""
    for piece in streamer:
        if piece:
            text += piece
            send(Piece(slot, piece))
    worker.join()
    if "error" in out:
        raise out["error"]
    tokens = int(out["ids"].shape[1] - ids.shape[1])
    name = student.model + (f" + {adapter.name}" if adapter else "")
    return Done(slot, name, text, tokens, time.monotonic() - t0)


def _teacher(spec: PlaygroundSpec, teacher_spec: Any, slot: int, send: Any) -> Done:
    from engine.teacher import Request, open_teacher

    s = spec.settings
    t0 = time.monotonic()
    text = ""
    with open_teacher(teacher_spec) as teacher:
        request = Request(messages=_messages(spec), temperature=s.temperature, top_p=s.top_p,
                          max_tokens=s.max_new_tokens, seed=s.seed)
        for delta in teacher.stream(request):
            if delta.text:
                text += delta.text
                send(Piece(slot, delta.text))
        model = teacher.model
    return Done(slot, f"{teacher_spec.kind}:{model}", text, 0, time.monotonic() - t0)


def run_playground(spec: PlaygroundSpec, send: Any, cancelled: Any = lambda: False) -> None:
    """Answer with each chosen model in turn; a model that fails sends a Done with its error
    and the others still answer. Ends with Finished."""
    from engine.errors import DistillabError
    from engine.validate import parse_recipe

    with Store(Path(spec.db_path), readonly=True) as store:
        run = runs.get_run(store, spec.run_id)
        adapter = run_adapter(store, spec.run_id)
    recipe = parse_recipe(run.recipe_yaml, run.recipe_path or f"run {run.id}",
                          Path(run.recipe_path).parent if run.recipe_path else None).recipe
    for slot, which in enumerate(spec.models):
        if cancelled():
            break
        t0 = time.monotonic()
        try:
            if which == "teacher":
                done = _teacher(spec, recipe.teacher, slot, send)
            elif which == "student" and adapter is None:
                done = Done(slot, recipe.student.model, "", 0, 0.0,
                            f"run {spec.run_id} has no trained adapter: pick the base student, "
                            "or a run whose training finished")
            else:
                done = _student(spec, recipe.student, adapter if which == "student" else None,
                                slot, send)
        except DistillabError as exc:
            done = Done(slot, which, "", 0, time.monotonic() - t0,
                        f"{exc.message}\n{exc.hint}".strip())
        except Exception as exc:  # one model's failure is shown in its column
            done = Done(slot, which, "", 0, time.monotonic() - t0, f"{type(exc).__name__}: {exc}")
        send(done)
    send(Finished())


def _worker(spec: PlaygroundSpec, events: Any, cancel: Any) -> None:
    from engine.quiet import quiet_libraries

    quiet_libraries()
    run_playground(spec, events.put, cancel.is_set)


class PlaygroundJob:
    """``run_playground`` in a spawned worker process; ``events()`` drains what it sent."""

    def __init__(self, spec: PlaygroundSpec) -> None:
        ctx = mp.get_context("spawn")
        self._events: Any = ctx.Queue()
        self._cancel = ctx.Event()
        self.process: BaseProcess = ctx.Process(target=_worker, args=(spec, self._events,
                                                                      self._cancel),
                                                name="distillab-playground", daemon=True)
        self.process.start()
        self.finished = False

    def events(self) -> list[Any]:
        out: list[Any] = []
        try:
            while True:
                out.append(self._events.get_nowait())
        except queue.Empty:
            pass
        if any(isinstance(e, Finished) for e in out):
            self.finished = True
        elif not out and not self.process.is_alive() and not self.finished:
            self.finished = True
            out.append(Done(-1, "", "", 0, 0.0,
                            f"the playground worker exited with code {self.process.exitcode}"))
            out.append(Finished())
        return out

    def stop(self) -> None:
        """Cancel after the model in flight; kill the worker if it does not end in 5 s."""
        self._cancel.set()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


def playground_run(store: Store) -> int:
    """The project's playground run (made on first use)."""
    row = store.one("SELECT id FROM runs WHERE paradigm = ? ORDER BY id LIMIT 1", (PLAYGROUND,))
    if row is not None:
        return int(row[0])
    run = runs.create_run(store, name=PLAYGROUND, paradigm=PLAYGROUND, seed=0,
                          recipe_yaml="# questions asked in the Playground, and the answers\n",
                          stage_names=[PLAYGROUND])
    stamp = now()
    runs.set_run(store, run.id, status="completed", started_at=stamp, finished_at=stamp)
    runs.set_stage(store, run.id, PLAYGROUND, status="completed")
    return run.id


def save_exchange(store: Store, *, question: str, answers: list[tuple[str, Done]],
                  source_run: int, settings: Settings, item_id: int | None = None) -> list[int]:
    """Store one question's answers (``(role, Done)`` pairs, role student/base/teacher) as
    traces of the playground run, each split into steps; returns the trace ids."""
    run_id = playground_run(store)
    ids = []
    with store.transaction():
        for role, done in answers:
            if done.error:
                continue
            ids.append(traces.add_trace(
                store, run_id=run_id, stage=PLAYGROUND, role=role, model=done.model,
                item_id=item_id, prompt=question, output=done.text,
                tokens_out=done.tokens or None, latency_s=done.seconds,
                steps=[StepIn(p.text, p.kind) for p in split_steps(done.text)],
                parsed={"source_run": source_run, "label": LABELS.get(role, role),
                        "temperature": settings.temperature, "top_p": settings.top_p,
                        "max_new_tokens": settings.max_new_tokens, "seed": settings.seed}))
        row = store.one("SELECT COUNT(*) FROM traces WHERE run_id = ?", (run_id,))
        runs.set_stage(store, run_id, PLAYGROUND, done=int(row[0]) if row else 0,
                       total=int(row[0]) if row else 0)
    return ids
