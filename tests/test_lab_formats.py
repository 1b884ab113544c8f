"""The paradigms' format parsers on real-shaped teacher output: clean, repairable, broken."""

from __future__ import annotations

from engine.paradigms.elad import formats as elad
from engine.paradigms.lema import formats as lema
from engine.paradigms.reer import formats as reer
from engine.paradigms.supercorrect import formats as sc
from engine.steps import chain_steps

# -- ELAD --------------------------------------------------------------------------------


def test_yes_no_takes_the_first_word():
    for text, want in [("Yes", True), ("yes.", True), ("**No**", False), ("No, step 2 is fine", False),
                       ("Correct.", True), ("Incorrect: 3 * 4 is 12", False), ("Maybe", None),
                       ("", None), ("  \nNo\n", False)]:
        assert elad.parse_yes_no(text) is want, text


def test_verdict_lines_missing_repeated_and_beyond_the_chain():
    clean = elad.parse_verdicts("Step 1: Yes\nStep 2: Yes\nStep 3: No", 3)
    assert clean.verdicts == [True, True, False] and clean.first_no == 3 and not clean.reason
    messy = elad.parse_verdicts("**Step 1:** Correct\nStep 2 - No, it adds\nStep 2: Yes\n"
                                "Step 5: No", 4)
    assert messy.verdicts == [True, False, None, None] and messy.first_no == 2
    assert "Step 2 judged twice" in messy.reason and "Step 5" in messy.reason
    assert "no verdict for steps 3, 4" in messy.reason


def test_revision_keeps_the_students_prefix_and_drops_a_repeated_one():
    prefix = ["347 - 129 = 218.", "218 + 5 = 223."]
    answer = "Step 2: 218 * 3 = 654.\nThe answer is 654."
    revision = elad.parse_revision(answer, 2)
    assert not revision.reason and revision.steps == ["218 * 3 = 654."]
    assert revision.chain(prefix) == ("Step 1: 347 - 129 = 218.\nStep 2: 218 * 3 = 654.\n"
                                      "The answer is 654.")
    repeated = elad.parse_revision("Step 1: 347 - 129 = 218.\n" + answer, 2)
    assert repeated.steps == ["218 * 3 = 654."] and not repeated.reason
    assert "no steps from Step 3" in elad.parse_revision(answer, 3).reason
    assert "no final line" in elad.parse_revision("Step 2: 218 * 3 = 654.", 2).reason
    assert "not numbered" in elad.parse_revision("Step 2: a = 1.\nStep 4: b = 2.\nThe answer "
                                                 "is 2.", 2).reason


# -- LEMA --------------------------------------------------------------------------------
TRIPLET = """Incorrect Step: Step 2.
Explanation: The 60 stamps are given away, so they must be subtracted.
Correct Solution:
{
...
Step 2: 173 - 60 = 113.
The answer is 113.
}"""


def test_triplet_in_the_published_layout():
    t = lema.parse_triplet(TRIPLET, n_steps=2)
    assert t.ok and t.step == 2 and t.elided and t.answer == "113"
    assert t.steps == ["173 - 60 = 113."] and t.explanation.startswith("The 60 stamps")
    assert t.solution == "...\nStep 2: 173 - 60 = 113.\nThe answer is 113."
    assert t.target().startswith("Step 2.\nExplanation: ") and "{\n...\nStep 2" in t.target()
    assert t.full_solution(["125 + 48 = 173.", "173 + 60 = 233."]) == (
        "Step 1: 125 + 48 = 173.\nStep 2: 173 - 60 = 113.\nThe answer is 113.")


def test_triplet_variants_real_teachers_write():
    completion = lema.parse_triplet(TRIPLET.removeprefix("Incorrect Step: "), n_steps=2)
    assert completion.ok and completion.step == 2 and completion.notes
    no_dots = lema.parse_triplet(TRIPLET.replace("...\n", ""), n_steps=2)
    assert no_dots.ok and not no_dots.elided
    full = lema.parse_triplet(TRIPLET.replace("...", "Step 1: 125 + 48 = 173."), n_steps=2)
    assert full.ok and full.steps == ["173 - 60 = 113."]  # only steps from the wrong one
    no_braces = lema.parse_triplet(TRIPLET.replace("{\n", "").replace("\n}", ""), n_steps=2)
    assert no_braces.ok and no_braces.answer == "113"
    assert "no braces around the corrected solution" in no_braces.notes
    first = lema.parse_triplet("Incorrect Step: Step 1.\nExplanation: 35 is a distractor.\n"
                               "Correct Solution:\n{\nStep 1: 240 - 96 = 144.\nStep 2: 144 * 3 "
                               "= 432.\nThe answer is 432.\n}", n_steps=2)
    assert first.ok and first.step == 1 and not first.elided and len(first.steps) == 2
    run_on = lema.parse_triplet(TRIPLET + "\n\nQuestion: Tom has 5 cards.\nOriginal Solution:\n"
                                "{\nStep 1: 5 + 1 = 6.\n}\nIncorrect Step: Step 1.", n_steps=2)
    assert run_on.ok and run_on.step == 2 and run_on.notes


def test_triplets_that_are_flagged_with_their_reason():
    two = lema.parse_triplet("Incorrect Step: Step 2.\nIncorrect Step: Step 3.\n" +
                             TRIPLET.split("\n", 1)[1], n_steps=3)
    assert not two.ok and "two Incorrect Step lines" in two.reason
    same_twice = lema.parse_triplet("Incorrect Step: Step 2.\n" + TRIPLET, n_steps=2)
    assert same_twice.ok and "repeated" in " ".join(same_twice.notes)
    beyond = lema.parse_triplet(TRIPLET.replace("Step 2", "Step 7"), n_steps=3)
    assert not beyond.ok and "Step 7 is not a step" in beyond.reason
    none = lema.parse_triplet("Incorrect Step: none.\nExplanation: all fine.\nCorrect "
                              "Solution:\n{\nStep 1: 1 + 1 = 2.\nThe answer is 2.\n}", n_steps=1)
    assert not none.ok and "no incorrect step" in none.reason
    no_answer = lema.parse_triplet(TRIPLET.replace("The answer is 113.\n", ""), n_steps=2)
    assert not no_answer.ok and "The answer is" in no_answer.reason
    assert "no Correct Solution" in lema.parse_triplet(TRIPLET.split("Correct Solution")[0]).reason


def test_evolved_questions_and_majority_labels():
    text = ("New Question 1: Ana has 3 cards. She buys 4 more cards. How many cards does Ana have "
            "now?\n**New Question 2:** Tom has 9 pens.\nNew Question 3: Tom has 9 pens.\n"
            "Some closing words.")
    assert lema.parse_questions(text) == ["Ana has 3 cards. She buys 4 more cards. How many "
                                          "cards does Ana have now?", "Tom has 9 pens."]
    assert lema.majority(["7", "7", "8"]) == "7"
    assert lema.majority(["7", "8", "9"]) is None  # all differ: dropped
    assert lema.majority(["7", None, None]) is None and lema.majority([]) is None


# -- SuperCorrect ------------------------------------------------------------------------
TEMPLATE = ("<Step1>\nStart with 347. 129 go out: 347 - 129 = 218.\n<Key>Borrow in the ones.</Key>"
            "\n</Step1>\n<Step2>\nMultiply: 218 * 3 = 654.\n</Step2>\n<Generalized>Keep one "
            "running total.</Generalized>\n<Answer>654</Answer>")


def test_a_well_formed_template():
    t = sc.parse_template(TEMPLATE)
    assert t.ok and [s.number for s in t.steps] == [1, 2] and t.answer == "654"
    assert t.steps[0].keys == ["Borrow in the ones."] and t.generalized == "Keep one running total."
    assert sc.strip_keys(t.steps[0].text) == "Start with 347. 129 go out: 347 - 129 = 218."
    assert [p.kind for p in t.pieces()] == ["step", "key", "step", "generalized", "answer"]


def test_a_cut_off_last_tag_is_the_one_repair():
    t = sc.parse_template(TEMPLATE.replace("</Answer>", ""))
    assert t.ok and t.answer == "654" and t.repaired == ["closed the unclosed last tag <Answer>"]
    cut_step = sc.parse_template(TEMPLATE.split("</Step2>")[0])
    assert not cut_step.ok and cut_step.repaired and "no <Answer>" in cut_step.reason


def test_broken_templates_are_flagged_with_their_reason():
    nested = TEMPLATE.replace("</Step1>\n<Step2>", "<Step2>").replace("</Step2>", "</Step2></Step1>")
    assert "nested" in sc.parse_template(nested).reason
    assert "no <Answer>" in sc.parse_template(TEMPLATE.split("<Answer>")[0]).reason
    order = TEMPLATE.replace("Step1", "StepX").replace("Step2", "Step1").replace("StepX", "Step2")
    assert "out of order" in sc.parse_template(order).reason
    gap = TEMPLATE.replace("Step2", "Step3")
    assert "out of order or missing: 1, 3" in sc.parse_template(gap).reason
    unclosed_middle = TEMPLATE.replace("</Step1>", "")
    assert not sc.parse_template(unclosed_middle).ok
    stray = sc.parse_template(TEMPLATE.replace("</Step2>", "</Step3>"))
    assert "</Step3> closes <Step2>" in stray.reason
    assert "no <Step1>" in sc.parse_template("<Answer>5</Answer>").reason


def test_corrections_wrapped_or_not():
    text = ("<Step2>\n<Cause>It adds 3 instead of multiplying.</Cause>\n<Correction>218 * 3 = 654."
            "</Correction>\n</Step2>\n<Answer>654</Answer>")
    c = sc.parse_correction(text)
    assert c.ok and c.step == 2 and c.correction == "218 * 3 = 654." and c.answer == "654"
    bare = sc.parse_correction("<Cause>Step 2 adds 3 instead of multiplying.</Cause>"
                               "<Correction>218 * 3 = 654.</Correction><Answer>654</Answer>")
    assert bare.ok and bare.step == 2 and bare.repaired
    unnamed = sc.parse_correction("<Cause>It adds.</Cause><Correction>x</Correction>"
                                  "<Answer>1</Answer>")
    assert not unnamed.ok and "which step" in unnamed.reason
    assert "no <Answer>" in sc.parse_correction(text.split("<Answer>")[0]).reason
    assert "no <Correction>" in sc.parse_correction(text.replace("Correction>", "Fix>")).reason


# -- REER --------------------------------------------------------------------------------


def test_think_blocks():
    assert reer.parse_think("<think>\nAlright, I will plan.\n</think>").text == "Alright, I will plan."
    cut = reer.parse_think("<think>\nAlright, I will plan and then")
    assert not cut.finished and "never finishes" in cut.reason and cut.text
    assert reer.parse_think("Alright, no tag but the opener.").finished
    assert "no <think>" in reer.parse_think("Sure! Here is the plan.").reason
    assert "empty" in reer.parse_think("<think>  </think>").reason


def test_segments_merge_short_pieces_and_keep_latex_blocks_whole():
    long_a, long_b = "A" * 120, "B" * 130
    assert reer.split_segments(f"{long_a}\n\nshort\n\n{long_b}") == [long_a, f"short\n\n{long_b}"]
    assert reer.split_segments(f"{long_a}\n\n{long_b}\n\ntail") == [long_a, f"{long_b}\n\ntail"]
    latex = "\\[ x = 1\n\n y = 2 \\]"
    segments = reer.split_segments(f"{long_a}\n\n{latex} {long_b}")
    assert segments == [long_a, f"{latex} {long_b}"]
    one_block = f"{long_a}\n{long_b}"  # no blank line: split on single newlines
    assert reer.split_segments(one_block) == [long_a, long_b]


def test_mark_and_refine():
    marked = reer.mark_segment(["one", "two", "three"], 1)
    assert marked == "one\n\n<replace>two</replace>\n\nthree"
    assert reer.parse_refine("Analysis: vague.\n<refine>first</refine>\n<refine>\nlast\n</refine>") \
        == "last"
    assert reer.parse_refine("<refine>cut off") is None


def test_chain_steps_splits_labelled_steps_and_the_answer_line():
    chain = chain_steps("Preamble.\nStep 1: 3 + 4 = 7.\nStep 2: 7 * 2 = 14. The answer is 14.\n"
                        "More text.")
    assert chain.numbers == [1, 2] and chain.texts == ["3 + 4 = 7.", "7 * 2 = 14."]
    assert chain.answer_line == "The answer is 14."
    lema_style = chain_steps("Step 1: 2 + 2 = 4.\nStep 2: The answer is 4.")
    assert lema_style.texts == ["2 + 2 = 4."] and lema_style.answer_line == "The answer is 4."
