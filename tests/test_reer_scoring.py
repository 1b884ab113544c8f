"""REER's scorer shares the prefix an item's candidates have in common: the grouping on
hand-made token lists, and, on the tiny model, candidates scored together (prefix run once,
suffixes on its cache) give the scores each gets alone and by a direct computation; a
bfloat16 copy of the model moves the scores a little, not far."""

from __future__ import annotations

import pytest

from engine.paradigms.reer.formats import split_answer
from engine.paradigms.reer.scoring import MIN_SHARED, shared_groups

from .tiny_model import ensure_tiny_model


def test_candidates_with_a_long_common_beginning_share_it_and_the_rest_run_alone():
    base = list(range(100))
    encoded = [([*base, 7, 8, 9], 101),     # shares 100 with the next, 101 with the third
               (base[:90] + [5] * 20, 95),
               ([*base, 7, 1], 102),
               ([3] * 80, 40),              # shares nothing with the others
               (base[:10] + [4] * 90, 50)]  # shares only 10 tokens: alone
    groups = {tuple(sorted(m)): shared for shared, m in shared_groups(encoded)}
    assert groups == {(0, 1, 2): 90, (3,): 0, (4,): 0}
    # the shared prefix stops before any member's first scored token
    assert {tuple(sorted(m)): s for s, m in shared_groups([([*base, 1], 70), ([*base, 2], 99)])} \
        == {(0, 1): 69}
    # a prefix shorter than MIN_SHARED is not worth a pass of its own
    short = base[:MIN_SHARED - 1]
    assert all(s == 0 for s, _ in shared_groups([([*short, 1, 2], 64), ([*short, 3, 4], 64)]))


@pytest.mark.slow
def test_candidates_sharing_a_prefix_score_as_they_do_alone_and_directly(models_home):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.paradigms.reer.params import DEFAULT_LAYOUT
    from engine.paradigms.reer.scoring import before_answer, score_thinkings
    from engine.student.score import target_tokens

    folder = ensure_tiny_model(models_home)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    y = ("We add 3 and 4, then we check the sum." + " so the answer is 7." * 4 + "\n\n"
         "Therefore the total is 7, because we add the first number and the second, "
         "and we check it by counting on from the first number.")
    first = "I will add the two numbers and check the total. " * 6
    edits = ["Then the total.", "Then I add 3 and 4 to get 7, and check it.",
             "Then I count on from 3: 4, 5, 6, 7.", "The total is what we want " * 5]
    zs = [f"{first}\n\n{e}\n\nThe answer is the total." for e in edits]
    zs.append("short")  # another item: alone
    prompts = [[{"role": "user", "content": "what is 3 plus 4?"}]] * len(edits) \
        + [[{"role": "user", "content": "what is 5 plus 1?"}]]
    ys = [y] * len(zs)

    encoded = [target_tokens(tok, p, split_answer(y)[1], before_answer(DEFAULT_LAYOUT, z)
                             + split_answer(y)[0]) for p, z in zip(prompts, zs, strict=True)]
    groups = shared_groups(encoded)
    assert sorted(len(m) for s, m in groups if s >= MIN_SHARED) == [len(edits)]

    # clip 50: the random tiny model's log-probs are mostly below -2, so the default clip
    # would make every score 2.0 and hide any difference
    def scores(ps, zz, aa, batch_size=16):
        return score_thinkings(model, tok, ps, zz, aa, layout=DEFAULT_LAYOUT, clip=50.0,
                               batch_size=batch_size)

    together = scores(prompts, zs, ys, batch_size=3)
    alone = [scores([p], [z], [a])[0] for p, z, a in zip(prompts, zs, ys, strict=True)]
    for p, z, a, got, one in zip(prompts, zs, ys, together, alone, strict=True):
        head, rest = split_answer(a)
        assert head and rest  # y's first segment is context
        ids, start = target_tokens(tok, p, rest, before_answer(DEFAULT_LAYOUT, z) + head)
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float()
        lp = logits[:-1].log_softmax(-1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
        direct = float(-lp[start - 1:].clamp(-50.0, 0.0).mean())
        assert got.tokens == one.tokens == len(ids) - start and got.input_tokens == len(ids)
        assert abs(got.score - direct) < 1e-4, (got.score, direct)
        assert abs(one.score - direct) < 1e-4, (one.score, direct)
    # the edits really change the score: sharing did not hand every candidate the same one
    assert len({round(s.score, 4) for s in together[:len(edits)]}) > 1

    # search.score_dtype bfloat16: a bf16 copy of the model (eager attention on a CPU)
    # gives close but not equal scores (a no-op would give the float32 ones exactly)
    import copy

    from engine.paradigms.reer.scoring import resolve_dtype, to_scoring_dtype

    assert resolve_dtype("float32", model) is None
    assert resolve_dtype("bfloat16", model) == "bfloat16"
    assert resolve_dtype("auto", model) in (None, "bfloat16")
    assert to_scoring_dtype(model, None) is model
    half = to_scoring_dtype(copy.deepcopy(model), "bfloat16")
    assert all(p.dtype == torch.bfloat16 for p in half.parameters())
    assert half.config._attn_implementation == "eager"
    bf16 = score_thinkings(half, tok, prompts, zs, ys, layout=DEFAULT_LAYOUT, clip=50.0,
                           batch_size=3)
    gaps = [abs(a.score - b.score) for a, b in zip(together, bf16, strict=True)]
    assert max(gaps) > 1e-6, "the bfloat16 copy scored exactly like float32"
    assert all(g < 0.02 * max(1.0, abs(a.score)) for g, a in zip(gaps, together, strict=True)), \
        gaps
    assert all(p.dtype == torch.float32 for p in model.parameters())
