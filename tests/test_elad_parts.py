"""elad's parts on hand-made data: the entropy and the intra score (ties, empty chains),
the four selections on a fixed score table, the teacher's DFS check against the lab's
scripted teacher over HTTP (first No at step 1, in the middle, none; every step Yes with a
wrong answer; no steps), and the batched cut-chain passes against one pass at a time."""

from __future__ import annotations

import math

import pytest

from engine.paradigms.elad import scoring as S
from engine.paradigms.elad.revise import Chain, Prompts, check_chains, tokens
from engine.recipes import TeacherSpec

from .conftest import ROOT
from .elad_fixtures import scripted_chain

# -- entropy and the intra score -------------------------------------------------------------


def test_answer_entropy_counts_answers_and_unreadable_ones():
    assert S.answer_entropy(["5", "5", "5", "5"]) == 0.0
    assert S.answer_entropy(["5", "6"]) == pytest.approx(1.0)  # uniform over 2 of k=2
    assert S.answer_entropy(["5", "6"], normalise=False) == pytest.approx(math.log(2))
    # None and "" are the same unreadable answer; spaces do not make a new answer
    assert S.answer_entropy([None, "", " 5", "5 "]) == pytest.approx(
        -(2 * 0.5 * math.log(0.5)) / math.log(4))
    assert S.answer_entropy(["7"]) == 0.0 and S.answer_entropy([]) == 0.0
    p = [2 / 5, 2 / 5, 1 / 5]
    assert S.answer_entropy(list("aabbc")) == pytest.approx(
        -sum(x * math.log(x) for x in p) / math.log(5))


def test_majority_ties_go_to_the_answer_met_first_and_least_confidence():
    assert S.majority(["3", "4", "4", "3"]) == (0, 0.5)
    assert S.majority(["9", "4", "4"]) == (1, pytest.approx(2 / 3))
    assert S.least_confidence(["9", "4", "4"]) == pytest.approx(1 / 3)
    assert S.least_confidence(["1", "1"]) == 0.0 and S.majority([]) == (-1, 0.0)


def test_intra_score_both_directions_and_empty_chains():
    # step 1: 7 -> 7 (agree); step 2: 7 -> 9 (changes); step 3: None -> None (agree)
    got = S.intra_score(["7", "7", None], ["7", "9", ""], "agree")
    assert got.agreed == [True, False, True] and got.h_reason == pytest.approx(2 / 3)
    assert got.without == ["7", "7", "<none>"] and got.with_ == ["7", "9", "<none>"]
    assert S.intra_score(["7", "7", None], ["7", "9", ""], "disagree").h_reason == \
        pytest.approx(1 / 3)
    empty = S.intra_score([], [], "agree")
    assert empty.h_reason is None and empty.agreed == []
    assert S.combined(0.8, None, 0.5) == pytest.approx(0.4)  # no intra term
    assert S.combined(0.8, 0.2, 0.25) == pytest.approx(0.25 * 0.8 + 0.75 * 0.2)
    with pytest.raises(ValueError):
        S.intra_score(["1"], ["1", "2"])
    assert S.cut_points(3) == [0, 1, 2, 3] and S.cut_points(0) == [0]


# -- selections ------------------------------------------------------------------------------

TABLE = {"a": 0.9, "b": 0.1, "c": 0.5, "d": 0.5, "e": 0.5, "f": 0.0}


def test_top_b_takes_the_highest_scores_and_breaks_ties_by_a_seeded_hash():
    for method in ("elad", "max_entropy", "least_confidence"):
        chosen = S.select(TABLE, 3, method=method, seed=0)
        assert chosen[0] == "a" and set(chosen[1:]) < {"c", "d", "e"}
    ties = {S.select(TABLE, 2, method="elad", seed=s)[1] for s in range(12)}
    assert len(ties) > 1  # a different seed can break the 0.5 tie differently
    assert S.select(TABLE, 2, method="elad", seed=4) == S.select(TABLE, 2, method="elad", seed=4)
    assert S.select(TABLE, 10, method="elad", seed=0)[-2:] == ["b", "f"]
    # all-equal scores do not fall back to data order
    flat = {f"k{i}": 0.0 for i in range(20)}
    assert S.select(flat, 5, method="max_entropy", seed=1) != [f"k{i}" for i in range(5)]


def test_random_ignores_the_scores_and_follows_its_seed():
    draws = [S.select(TABLE, 3, method="random", seed=s) for s in range(8)]
    assert all(len(set(d)) == 3 and set(d) <= set(TABLE) for d in draws)
    assert any("a" not in d for d in draws)  # the best score is not always taken
    assert S.select(TABLE, 3, method="random", seed=2) == draws[2]
    assert len({tuple(d) for d in draws}) > 1


# -- the DFS check against the lab teacher ---------------------------------------------------


def _item() -> dict:
    from engine.lab.arith import Dials, generate

    item = generate(1, Dials(digits=2, ops=4, mix="+-"), seed=5)[0]
    return {"question": item.question, "answer": str(item.answer), "steps":
            [s.as_dict() for s in item.steps], "distractors": list(item.distractors),
            "solution": item.solution}


def _chain(data: dict, wrong_at: int | None, answer_right: bool = True) -> Chain:
    from engine.steps import chain_steps

    parsed = chain_steps(scripted_chain(data, wrong_at))
    return Chain(data["question"], parsed.texts, parsed.answer_line, answer_right)


def _prompts() -> Prompts:
    return Prompts(ROOT / "recipes", "prompts/elad/verify_step.j2",
                   "prompts/elad/verify_all.j2", "prompts/elad/revise.j2", 8, 256, 0.0)


@pytest.mark.parametrize("mode", ["per_step", "all"])
def test_dfs_check_stops_at_the_first_no_and_keeps_the_correct_prefix(mode):
    from engine.lab.chain import check_chain
    from engine.teacher import open_teacher

    data = _item()
    n = len(data["steps"])
    chains = [_chain(data, 1, False), _chain(data, 3, False), _chain(data, None, True),
              Chain(data["question"], _chain(data, None).steps[:n - 1], "The answer is 1.",
                    False),
              Chain(data["question"], [], "The answer is 3.", False)]
    with open_teacher(TeacherSpec(kind="lab", concurrency=4)) as teacher:
        outs = check_chains(teacher, _prompts(), chains, mode=mode)
    first, middle, clean, short, empty = outs
    assert all(o.done for o in outs)
    assert (first.first_no, first.verdicts, first.kind) == (1, [False], "revised")
    assert (middle.first_no, middle.verdicts, middle.kind) == (3, [True, True, False], "revised")
    assert (clean.first_no, clean.kind, clean.rewrite_calls) == (None, "accepted", [])
    assert clean.verdicts == [True] * n and clean.revised == chains[2].text
    # every step Yes (they are all right) but the chain stops short: a full rewrite
    assert short.kind == "full_rewrite" and short.verdicts == [True] * (n - 1)
    assert empty.kind == "full_rewrite" and empty.yes_calls == []
    for out, chain in zip(outs, chains, strict=True):
        assert check_chain(data, out.revised).first_wrong is None, out.revised  # right now
        if out.first_no:  # the student's steps before the first No are kept as they were
            kept = out.revised.splitlines()[:out.first_no - 1]
            assert kept == chain.text.splitlines()[:out.first_no - 1]
    calls = [len(o.yes_calls) for o in outs]
    assert calls == ([1, 3, n, n - 1, 0] if mode == "per_step" else [1, 1, 1, 1, 0])
    assert [len(o.rewrite_calls) for o in outs] == [1, 1, 0, 1, 1]
    assert tokens(middle.yes_calls) > 0 and tokens(middle.rewrite_calls) > 0


def test_dfs_check_reads_an_unclear_verdict_as_no_and_says_so():
    from engine.paradigms.elad.revise import Outcome, _read_verdicts
    from engine.teacher import Request, Result
    from engine.teacher.types import Completion

    def result(text: str) -> Result:
        return Result(Request(messages=[{"role": "user", "content": "q"}]),
                      [Completion(text, "stop", 0)])

    out = Outcome()
    chain = Chain("q", ["1 + 1 = 2.", "2 + 2 = 4."], "The answer is 4.", True)
    _read_verdicts(out, chain, [result("Yes."), result("Hmm, maybe")], "per_step")
    assert out.first_no == 2 and "read as No" in out.flag
    out = Outcome()
    _read_verdicts(out, chain, [result("Step 1: Yes")], "all")
    assert out.first_no == 2 and out.verdicts == [True, None] and "no verdict" in out.flag


# -- the cut-chain passes --------------------------------------------------------------------


def test_batched_passes_give_the_one_at_a_time_answers_with_n_plus_1_generations(models_home):
    from engine.paradigms.elad.passes import continue_cuts, prefix_text
    from engine.recipes import StudentSpec
    from engine.student import load_student

    from .tiny_model import ensure_tiny_model

    model, tok = load_student(StudentSpec(model=str(ensure_tiny_model(models_home)),
                                          quantization="none"), for_training=False)
    heads = ["Q: 2 + 3?\n", "Q: 7 - 1 + 4?\n", "Q: none\n"]
    chains = [["2 + 3 = 5."], ["7 - 1 = 6.", "6 + 4 = 10.", "10 * 1 = 10."], []]
    seen: list[str] = []

    def answer_of(c: int, text: str) -> str:
        seen.append(text)
        return text.strip()[-6:]  # the tiny model's words: any stable function of the text

    kw = dict(max_new_tokens=6, batch_size=4, seed=0)
    fast = continue_cuts(model, tok, heads, chains, answer_of, batched=True, **kw)
    slow = continue_cuts(model, tok, heads, chains, answer_of, batched=False, **kw)
    assert [c.generations for c in fast] == [2, 4, 0] and [c.generations for c in slow] == [2, 6, 0]
    for a, b in zip(fast, slow, strict=True):
        assert a.without == b.without and a.with_ == b.with_  # greedy: padding changes nothing
    assert all(c.read_tokens > 0 and c.gen_tokens > 0 for c in fast[:2])
    assert fast[2].without == [] and fast[2].with_ == [] and fast[2].read_tokens == 0
    assert any(t.startswith(prefix_text(chains[1], 2)) for t in seen)
    assert slow[1].read_tokens > fast[1].read_tokens
