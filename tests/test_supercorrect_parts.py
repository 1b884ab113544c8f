"""supercorrect's text parts: the template parser on well-formed, repairable and broken XML,
the normalised forms the student learns, the lenient self-correction reader, the answer
spread, and the pair builder on hand-made traces (first wrong step 1, middle, last)."""

from __future__ import annotations

import pytest

from engine.paradigms.supercorrect import formats as F
from engine.paradigms.supercorrect.pairs import build_pair
from engine.paradigms.supercorrect.report import disagreement

GOOD = ("<Step1>\nStart with 12 pens. 7 more come in, so add: 12 + 7 = 19.\n</Step1>\n"
        "<Step2>\nThe pens become 3 times as many: 19 * 3 = 57.\n"
        "<Key>Multiply place by place: 10 + 9, each times 3, gives 30 + 27 = 57.</Key>\n"
        "</Step2>\n<Step3>\n9 go out: 57 - 9 = 48.\n</Step3>\n"
        "<Generalized>Keep one running total.</Generalized>\n<Answer>48</Answer>")


def test_a_well_formed_template_parses_into_its_kinds_and_renders_back():
    t = F.parse_template(GOOD)
    assert t.ok and not t.repaired and [s.number for s in t.steps] == [1, 2, 3]
    assert t.steps[1].keys == ["Multiply place by place: 10 + 9, each times 3, gives 30 + 27 = 57."]
    assert [p.kind for p in t.pieces()] == ["step", "step", "key", "step", "generalized", "answer"]
    assert F.render_template(t) == GOOD  # the normalised form of a clean template is itself
    assert F.strip_keys(t.steps[1].text) == "The pens become 3 times as many: 19 * 3 = 57."


def test_only_an_unclosed_last_tag_is_repaired():
    cut = F.parse_template(GOOD.removesuffix("</Answer>"))
    assert cut.ok and cut.answer == "48" and cut.repaired == ["closed the unclosed last tag <Answer>"]
    assert F.render_template(cut) == GOOD  # the student learns the closed form
    sloppy = F.parse_template(GOOD.replace("</Step1>\n", ""))  # a middle step left open
    assert not sloppy.ok and "nested" in sloppy.reason


@pytest.mark.parametrize("broken, reason", [
    (GOOD.replace("</Step2>", "</Step2></Key>"), "closes"),                       # stray close
    (GOOD.replace("<Step3>", "<Step2><Step3>").replace("</Step3>", "</Step3></Step2>"), "nested"),
    (GOOD.split("<Answer>")[0], "no <Answer>"),                                   # missing answer
    (GOOD.replace("Step2", "StepX").replace("Step3", "Step2").replace("StepX", "Step3"),
     "out of order"),
    (GOOD.replace("Step3", "Step5"), "out of order or missing: 1, 2, 5"),
    (GOOD.replace("Step2", "Step1"), "out of order or missing: 1, 1, 3"),         # repeated
    ("<Generalized>x</Generalized><Answer>4</Answer>", "no <Step1>"),
    (GOOD.replace("<Answer>", "<Cause>c</Cause><Answer>"), "correction's tags"),
])
def test_broken_templates_are_flagged_with_their_reason(broken, reason):
    t = F.parse_template(broken)
    assert not t.ok and reason in t.reason, t.reason


def test_answer_text_reads_the_last_answer_tag_even_cut_off():
    assert F.answer_text(GOOD) == "48"
    assert F.answer_text("<Step1>1 + 1 = 2</Step1>\n<Answer> 2") == "2"  # cut at the stop string
    assert F.answer_text("no tags, the answer is 5") == "no tags, the answer is 5"


def test_self_corrections_are_read_leniently():
    assert F.read_self_correction("<Step2>\n<Cause>It adds.</Cause>\n<Correction>19 * 3 = 57."
                                  "</Correction>\n</Step2>") == ("It adds.", "19 * 3 = 57.")
    # a weak student runs on into other tags: each part ends at the next tag
    assert F.read_self_correction("<Step2>\n<Cause>It adds<Step3> x</Cause>\n<Correction>"
                                  "</Correction>") == ("It adds", None)
    assert F.read_self_correction("<Step1> nothing") == (None, None)


def _teacher(k: int, correction: str, cause: str = "The step uses the wrong operation.") -> F.Correction:
    return F.parse_correction(F.correction_block(k, cause, correction) + "\n<Answer>48</Answer>")


WRONG = {  # the student's solution, wrong from step k on
    1: GOOD.replace("12 + 7 = 19", "12 - 7 = 5").replace("19 * 3 = 57", "5 * 3 = 15")
           .replace("57 - 9 = 48", "15 - 9 = 6").replace(">48<", ">6<"),
    2: GOOD.replace("19 * 3 = 57", "19 + 3 = 22").replace("57 - 9 = 48", "22 - 9 = 13")
           .replace(">48<", ">13<"),
    3: GOOD.replace("57 - 9 = 48", "57 - 9 = 58").replace(">48<", ">58<"),
}
FIXED = {1: "12 + 7 = 19.", 2: "19 * 3 = 57.", 3: "57 - 9 = 48."}


@pytest.mark.parametrize("k", [1, 2, 3])  # first wrong step = 1, the middle, the last
def test_pairs_share_the_prefix_before_step_k_and_differ_at_it(k):
    solution = F.parse_template(WRONG[k])
    pair, reason = build_pair(WRONG[k], _teacher(k, FIXED[k]), "I slipped.", "A wrong fix.")
    assert pair is not None and not reason and pair.k == k
    assert pair.prefix == F.steps_text(solution.steps[:k - 1])
    assert pair.prefix.count("<Step") == k - 1 and (k > 1 or pair.prefix == "")
    assert pair.chosen == (f"<Step{k}>\n<Cause>The step uses the wrong operation.</Cause>\n"
                           f"<Correction>{FIXED[k]}</Correction>\n</Step{k}>")
    assert pair.rejected == (f"<Step{k}>\n<Cause>I slipped.</Cause>\n"
                             f"<Correction>A wrong fix.</Correction>\n</Step{k}>")
    # the variant: the student's original wrong step k as rejected
    original, _ = build_pair(WRONG[k], _teacher(k, FIXED[k]), None, None,
                             rejected="original_step")
    assert original is not None and original.prefix == pair.prefix
    assert original.rejected == F.step_block(k, solution.steps[k - 1].text)
    # no meta-information: the corrected step only, on both sides
    bare, _ = build_pair(WRONG[k], _teacher(k, FIXED[k]), "I slipped.", "A wrong fix.", meta=False)
    assert bare is not None and "<Cause>" not in bare.chosen + bare.rejected
    assert bare.chosen == f"<Step{k}>\n<Correction>{FIXED[k]}</Correction>\n</Step{k}>"


def test_pairs_that_cannot_be_built_say_why():
    teacher = _teacher(2, FIXED[2])
    assert build_pair(WRONG[2], teacher, "cause", None)[1] == \
        "the student's self-correction has no <Correction>"
    same = build_pair(WRONG[2], teacher, "The step uses the wrong operation.", FIXED[2])
    assert same[0] is None and "word for word" in same[1]
    short = GOOD.split("<Step3>")[0] + "<Answer>57</Answer>"  # stops after step 2
    beyond = build_pair(short, _teacher(3, FIXED[3]), None, None, rejected="original_step")
    assert beyond[0] is None and "stops short" in beyond[1]
    assert build_pair(short, _teacher(3, FIXED[3]), "c", "57 - 9 = 47.")[0] is not None
    assert "names Step 5" in build_pair(WRONG[2], _teacher(5, "x"), "c", "y")[1]
    broken = F.parse_correction("<Cause>no step named</Cause><Correction>x</Correction>")
    assert "unusable" in build_pair(WRONG[2], broken, "c", "y")[1]


def test_answer_disagreement_is_the_chance_two_samples_differ():
    assert disagreement(["4", "4", "4"]) == 0.0
    assert disagreement(["1", "2", "3", "4"]) == 1.0
    assert disagreement(["4", "4", "5", "5"]) == pytest.approx(1 - 4 / 12)
    assert disagreement(["7"]) == 0.0
