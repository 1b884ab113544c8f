"""REER's parts: segmentation (short pieces merged, LaTeX blocks whole, the single-newline
fallback, y's first segment), leakage measures on hand-made pairs, the lab judge, and the
scorer's clipped score against a direct computation on the tiny model."""

from __future__ import annotations

import math

import pytest

from engine.lab import arith, why
from engine.lab.scripted import LabOptions, answer
from engine.paradigms.reer import formats
from engine.paradigms.reer.leakage import copied_spans, leakage, longest_copy, repeat_share
from engine.paradigms.reer.scoring import answer_part, before_answer, completion
from engine.tasks.openended import pair_outcome, pairwise_messages, parse_score, rubric_messages

from .tiny_model import ensure_tiny_model

A, B, C = "A" * 120, "B" * 130, "C" * 110


# -- segmentation ---------------------------------------------------------------------------


def test_short_pieces_merge_into_the_next_and_a_short_tail_into_the_last():
    text = f"{A}\n\nshort one\n\n{B}\n\ntail"
    assert formats.split_segments(text) == [A, f"short one\n\n{B}\n\ntail"]
    # two short pieces in a row merge together into the long one after them
    assert formats.split_segments(f"x\n\ny\n\n{A}\n\n{B}") == [f"x\n\ny\n\n{A}", B]
    # segments are exact pieces of the text: joined back they lose only blank lines
    spans = formats.segment_spans(text)
    assert [text[a:b] for a, b in spans] == formats.split_segments(text)


def test_latex_display_blocks_are_never_split():
    for block in ("\\[ x = 1\n\n y = 2 \\]", "$$ a\n\nb $$",
                  "\\begin{align} a &= 1\n\n b &= 2 \\end{align}"):
        segments = formats.split_segments(f"{A}\n\n{block} {B}\n\n{C}")
        assert segments == [A, f"{block} {B}", C], block
    # a block longer than the minimum stands alone and stays whole
    long_block = "\\[" + "x + " * 40 + "\n\n" + "y" * 10 + "\\]"
    assert formats.split_segments(f"{A}\n\n{long_block}\n\n{B}") == [A, long_block, B]


def test_one_segment_falls_back_to_single_newlines():
    assert formats.split_segments(f"{A}\n{B}\n{C}") == [A, B, C]
    assert formats.split_segments(f"{A}\nshort\n{B}") == [A, f"short\n{B}"]
    assert formats.split_segments(A) == [A]  # nothing to split on: one segment


def test_the_answers_first_segment_is_context_and_the_rest_is_scored():
    y = f"{A}\n\n{B}\n\n{C}"
    head, rest = formats.split_answer(y)
    assert head == A and rest == f"\n\n{B}\n\n{C}" and head + rest == y
    assert formats.split_answer(f"short\n\n{A}\n\n{B}") == (f"short\n\n{A}", f"\n\n{B}")
    assert formats.split_answer(A) == ("", A)  # one segment: all of it is scored


def test_layout_and_answer_part():
    layout = "<think>\n{thinking}\n</think>\n<answer>\n{answer}\n</answer>"
    assert before_answer(layout, "z") == "<think>\nz\n</think>\n<answer>\n"
    full = completion(layout, "z", "y")
    assert full.startswith(before_answer(layout, "z")) and full.endswith("y\n</answer>")
    assert answer_part(full) == "y"
    assert answer_part("<think>\nnever closed") == ""
    assert answer_part("just an answer") == "just an answer"


# -- leakage --------------------------------------------------------------------------------


def test_leakage_on_hand_made_pairs():
    y = "the cat sat on the mat and then it went to sleep by the warm fire"
    same = leakage(y, y)
    assert same.ngram == {n: 1.0 for n in range(3, 9)} and same.rouge_l == 1.0
    assert same.copied_words == 16  # every word of y
    none = leakage("quantum chromodynamics describes strong interactions", y)
    assert none.ngram[3] == 0.0 and none.rouge_l == 0.0 and none.copied_words == 0
    # z copies one 6-word run of y and says other things around it
    z = "I will plan first. the cat sat on the mat then I stop"
    part = leakage(z, y)
    assert part.copied_words == longest_copy(z, y) == 6  # "the cat sat on the mat"
    assert part.ngram[3] == pytest.approx(4 / 11)  # 4 of z's 11 word 3-grams are in y
    assert part.ngram[6] == pytest.approx(1 / 8) and part.ngram[8] == 0.0
    assert 0 < part.rouge_l < 1


def test_copied_spans_point_at_the_same_words_in_both_texts():
    y = "First, add the two numbers. Then the total is 12 apples in the basket."
    z = "Hmm, I will say that the total is 12 apples and explain why."
    spans = copied_spans(z, y, min_words=4)
    assert len(spans) == 1
    s = spans[0]
    assert z[s.z_start:s.z_end] == "the total is 12 apples" == y[s.y_start:s.y_end]
    assert s.words == 5
    assert copied_spans(z, y, min_words=6) == []


def test_repeat_share_finds_loops():
    assert repeat_share("one two three four five six seven eight nine ten", 3) == 0.0
    looped = " ".join(["I will write the intro now."] * 5)
    assert repeat_share(looped, 5) > 0.7


# -- the lab judge ----------------------------------------------------------------------------


def _why_item() -> arith.ArithItem:
    return arith.generate(1, arith.Dials(digits=2, ops=3), seed=4)[0]


def test_lab_judge_scores_by_the_reasoning_and_has_no_position_bias():
    item = _why_item()
    x, y = why.query(item), why.reference(item)
    options = LabOptions()
    full, kind = answer(rubric_messages(x, y, y), 0, options)
    assert kind == "judge.rubric" and parse_score(full) == 10
    bare = f"The total is {item.answer}."
    assert parse_score(answer(rubric_messages(x, bare, y), 0, options)[0]) == 1 + round(9 / 4)
    first = answer(pairwise_messages(x, y, bare), 0, options)[0]
    second = answer(pairwise_messages(x, bare, y), 0, options)[0]
    outcome = pair_outcome(first, second)
    assert outcome.score == 1.0 and outcome.consistent
    tie = pair_outcome(answer(pairwise_messages(x, y, y), 0, options)[0],
                       answer(pairwise_messages(x, y, y), 0, options)[0])
    assert tie.score == 0.5


# -- the scorer against a direct computation ---------------------------------------------------


@pytest.mark.slow
def test_clipped_score_matches_a_direct_computation_on_the_tiny_model(models_home):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.paradigms.reer.params import DEFAULT_LAYOUT
    from engine.paradigms.reer.scoring import score_thinkings

    folder = ensure_tiny_model(models_home)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    y = ("What is 3 plus 4? We add 3 and 4." + " so the answer is 7." * 4 + "\n\n"
         "Therefore the total is 7, because we add the first number and the second.")
    cases = [("We add them, then the total.\n\nThe answer is the total.", y),
             ("a " * 40 + "\n\nthink of the number", y),
             ("short", "the total is 7 " * 12)]  # one segment: all of y is scored
    prompts = [[{"role": "user", "content": f"question {i}: what is 3 plus 4?"}]
               for i in range(len(cases))]
    zs, ys = [z for z, _ in cases], [a for _, a in cases]
    got = score_thinkings(model, tok, prompts, zs, ys, layout=DEFAULT_LAYOUT, batch_size=3)
    for prompt, z, answer_text, scored in zip(prompts, zs, ys, got, strict=True):
        head, rest = formats.split_answer(answer_text)
        context = (tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
                   + before_answer(DEFAULT_LAYOUT, z) + head)
        enc = tok(context + rest, add_special_tokens=False, return_offsets_mapping=True)
        ids = enc["input_ids"]
        first = next(i for i, (_, hi) in enumerate(enc["offset_mapping"]) if hi > len(context))
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].float()
        lp = torch.log_softmax(logits[:-1], -1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
        target = lp[first - 1:].clamp(-2.0, 0.0)
        direct = float(-target.mean())
        assert scored.tokens == len(ids) - first
        assert scored.input_tokens == len(ids)
        assert abs(scored.score - direct) < 1e-4, (scored.score, direct)
        # the boundary: y's first segment is context (its tokens are never scored)
        if head:
            head_end = len(context)
            assert enc["offset_mapping"][first - 1][1] <= head_end
            assert rest.startswith("\n\n")
        assert 0 <= scored.score <= 2.0 and not math.isnan(scored.score)
