"""CLAER, the teacher's depth-first check of a student chain, and its rewrite from the first No.

For a batch of chains at once: the teacher judges step 1 of every chain, then step 2 of
the chains still all-Yes, and so on (``verify: per_step``, one short call per step, in
waves so the calls of different chains run concurrently), or judges every step in one call
(``verify: all``). At the first No (an unreadable verdict counts as No, and is flagged)
the teacher writes the correct continuation from that step, and the student's steps before
it are kept. A chain whose every step is Yes is accepted when its final answer is right,
else rewritten whole (the prompts ask about steps only, so the final answer is checked
against the item's answer, as the teacher-annotator would; the count is reported). A chain
with no steps is rewritten whole. Yes/No calls and rewrite calls are returned apart, so
their cost is reported apart.

Knows the teacher protocol (Request/Result) and the prompts; nothing of the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.paradigms.blocks import ask_all, teacher_text
from engine.paradigms.elad import formats as F
from engine.prompts import render

if TYPE_CHECKING:
    from engine.teacher import Request, Result


@dataclass(frozen=True)
class Chain:
    """A student chain to check: its item's question, its steps and answer line."""

    question: str
    steps: list[str]
    answer_line: str | None
    answer_right: bool  # the chain's final answer against the item's answer

    @property
    def text(self) -> str:
        lines = [f"Step {k}: {t}" for k, t in enumerate(self.steps, start=1)]
        return "\n".join([*lines, *([self.answer_line] if self.answer_line else [])])


@dataclass
class Outcome:
    """What the check and rewrite gave for one chain."""

    verdicts: list[bool | None] = field(default_factory=list)  # steps judged, in order
    first_no: int | None = None
    kind: str = ""  # accepted | revised | full_rewrite | error
    revised: str = ""  # the chain to train on
    flag: str = ""
    yes_calls: list[Result] = field(default_factory=list)
    rewrite_calls: list[Result] = field(default_factory=list)
    done: bool = False


@dataclass(frozen=True)
class Prompts:
    base_dir: Path | None
    verify_step: str
    verify_all: str
    revise: str
    verify_max_tokens: int
    max_tokens: int
    temperature: float


def _ask(prompt: str, max_tokens: int, temperature: float) -> Request:
    from engine.teacher import Request

    return Request(messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens,
                   temperature=temperature)


def verify_step_request(p: Prompts, chain: Chain, step: int) -> Request:
    return _ask(render(p.verify_step, p.base_dir, question=chain.question, solution=chain.text,
                       step=step), p.verify_max_tokens, 0.0)


def verify_all_request(p: Prompts, chain: Chain) -> Request:
    return _ask(render(p.verify_all, p.base_dir, question=chain.question, solution=chain.text),
                8 * len(chain.steps) + 8, 0.0)


def revise_request(p: Prompts, chain: Chain, step: int) -> Request:
    return _ask(render(p.revise, p.base_dir, question=chain.question, solution=chain.text,
                       step=step), p.max_tokens, p.temperature)


def _read_verdicts(out: Outcome, chain: Chain, results: list[Result], mode: str) -> None:
    """Fill verdicts/first_no from the answers; unreadable -> No, flagged."""
    if mode == "all":
        parsed = F.parse_verdicts(teacher_text(results[0]), len(chain.steps))
        out.verdicts = list(parsed.verdicts)
        first = next((k for k, v in enumerate(parsed.verdicts, 1) if v is not True), None)
        out.verdicts = out.verdicts[:first] if first else out.verdicts
        if parsed.reason and first is not None and parsed.verdicts[first - 1] is None:
            out.flag = f"verdicts: {parsed.reason} (read as No)"
        out.first_no = first
        return
    out.verdicts = [F.parse_yes_no(teacher_text(r)) for r in results]
    if out.verdicts and out.verdicts[-1] is not True:
        out.first_no = len(out.verdicts)
        if out.verdicts[-1] is None:
            out.flag = f"step {out.first_no}: no Yes/No in {teacher_text(results[-1])[:60]!r} " \
                       "(read as No)"


def check_chains(teacher: Any, p: Prompts, chains: Sequence[Chain], *, mode: str,
                 on_stop: Callable[[list[Outcome]], None] | None = None) -> list[Outcome]:
    """The DFS check and the rewrites of every chain; ``outcome.done`` marks the finished
    ones. On a budget stop ``on_stop`` gets the outcomes (finished ones usable) and the
    stop is re-raised."""
    outs = [Outcome() for _ in chains]
    try:
        _verify(teacher, p, chains, outs, mode)
        _rewrite(teacher, p, chains, outs)
    except Exception as stop:
        from engine.teacher import BudgetExhausted

        if isinstance(stop, BudgetExhausted) and on_stop is not None:
            on_stop(outs)
        raise
    return outs


def _raise(stop: Exception | None) -> None:
    if stop is not None:
        raise stop


def _verify(teacher: Any, p: Prompts, chains: Sequence[Chain], outs: list[Outcome],
            mode: str) -> None:
    if mode == "all":
        todo = [i for i, c in enumerate(chains) if c.steps]
        results, stop = ask_all(teacher, [verify_all_request(p, chains[i]) for i in todo])
        for i, res in zip(todo, results, strict=True):
            if res is not None:
                outs[i].yes_calls = [res]
                _read_verdicts(outs[i], chains[i], [res], "all")
        _raise(stop)
        return
    active = [i for i, c in enumerate(chains) if c.steps]
    step = 1
    while active:
        results, stop = ask_all(teacher, [verify_step_request(p, chains[i], step)
                                          for i in active])
        still = []
        for i, res in zip(active, results, strict=True):
            if res is None:
                continue
            outs[i].yes_calls.append(res)
            _read_verdicts(outs[i], chains[i], outs[i].yes_calls, "per_step")
            if outs[i].first_no is None and step < len(chains[i].steps):
                still.append(i)
        _raise(stop)
        active, step = still, step + 1


def _rewrite(teacher: Any, p: Prompts, chains: Sequence[Chain], outs: list[Outcome]) -> None:
    asks: list[tuple[int, int]] = []
    for i, (chain, out) in enumerate(zip(chains, outs, strict=True)):
        if any(r.error for r in out.yes_calls):
            out.kind, out.done = "error", True
            out.flag = f"teacher error: {next(r.error for r in out.yes_calls if r.error)}"
        elif out.first_no is not None:
            out.kind = "revised"
            asks.append((i, out.first_no))
        elif not chain.steps or not chain.answer_right:
            out.kind = "full_rewrite"
            asks.append((i, 1))
        else:
            out.kind, out.revised, out.done = "accepted", chain.text, True
    results, stop = ask_all(teacher, [revise_request(p, chains[i], k) for i, k in asks])
    for (i, k), res in zip(asks, results, strict=True):
        if res is None:
            continue
        out = outs[i]
        out.rewrite_calls = [res]
        if res.error:
            out.kind, out.flag = "error", f"teacher error: {res.error}"
        else:
            revision = F.parse_revision(teacher_text(res), k)
            out.revised = revision.chain(chains[i].steps)
            if revision.reason:
                out.flag = "; ".join(x for x in (out.flag, f"rewrite: {revision.reason}") if x)
        out.done = True
    _raise(stop)


def tokens(results: Sequence[Result]) -> int:
    return sum(r.tokens_in + r.tokens_out for r in results)
