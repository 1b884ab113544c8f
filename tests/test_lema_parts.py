"""lema's parts on hand-made data: the triplet from real-shaped teacher answers through the
answer filter, the sampled paths as chains and mistakes, the extra-CoT plan, the majority
label of evolved questions, and the training rows' loss mask on real token ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.paradigms.lema import formats as F
from engine.paradigms.lema.correct import drop_reason
from engine.paradigms.lema.evolve import label
from engine.paradigms.lema.params import SampleParams
from engine.paradigms.lema.rows import as_chain, corrected_chain, correction_target
from engine.paradigms.lema.stages import Mistakes, extra_plan
from engine.tasks import get_task

from .conftest import ROOT

QUESTION = ("Ana has 125 stamps. She buys 48 more stamps. Then she gives away 60 stamps. "
            "How many stamps does Ana have now?")
GOLD = {"question": QUESTION, "answer": "113"}
WRONG = "Step 1: 125 + 48 = 173.\nStep 2: 173 + 60 = 233.\nThe answer is 233."
# what GPT-4-like teachers answer after the prompt's "Incorrect Step:"
REAL = (" Step 2.\nExplanation: Ana gives the 60 stamps away, so they are subtracted.\n"
        "Correct Solution:\n{\n...\nStep 2: 173 - 60 = 113.\nThe answer is 113.\n}\n\n"
        "Question: Tom has 5 cards.")


def _drop(text: str, n_steps: int = 2) -> str | None:
    return drop_reason(F.parse_triplet(text, n_steps), None, get_task("gsm8k"), GOLD)[0]


def test_the_answer_filter_keeps_only_gold_answers_and_names_every_drop():
    assert _drop(REAL) is None
    assert _drop(REAL.replace("113", "114")) == "wrong answer"
    assert _drop(REAL.replace("Step 2", "Step 5")) == "bad step number"  # beyond the chain
    assert _drop("Incorrect Step: Step 1.\nIncorrect Step: Step 2.\n" + REAL) == \
        "bad step number"  # two different steps named
    assert _drop("I think the solution is fine.") == "no triplet"
    assert _drop(REAL.replace("Explanation: Ana gives the 60 stamps away, so they are "
                              "subtracted.\n", "")) == "no triplet"
    no_braces = REAL.replace("{\n", "").replace("\n}", "")
    assert _drop(no_braces) is None  # repaired, noted
    assert "no braces" in " ".join(F.parse_triplet(no_braces, 2).notes)
    step1 = ("Step 1.\nExplanation: Ana buys 48.\nCorrect Solution:\n{\nStep 1: 125 + 48 = 173.\n"
             "Step 2: 173 - 60 = 113.\nThe answer is 113.\n}")
    assert _drop(step1) is None and not F.parse_triplet(step1, 2).elided
    err = drop_reason(F.parse_triplet(REAL, 2), "HTTP 500", get_task("gsm8k"), GOLD)
    assert err == ("teacher error", "HTTP 500")


def test_rows_are_written_in_the_published_layouts():
    triplet = F.parse_triplet(REAL, 2)
    chain = as_chain(WRONG)
    full = correction_target(triplet, "full")
    assert full == ("Step 2.\nExplanation: Ana gives the 60 stamps away, so they are "
                    "subtracted.\nCorrect Solution:\n{\n...\nStep 2: 173 - 60 = 113.\n"
                    "The answer is 113.\n}")
    bare = correction_target(triplet, "no_explanation")
    assert "Explanation" not in bare and bare.startswith("Step 2.\nCorrect Solution:\n{\n...")
    assert corrected_chain(triplet, chain) == ("Step 1: 125 + 48 = 173.\n"
                                               "Step 2: 173 - 60 = 113.\nThe answer is 113.")
    with pytest.raises(ValueError):
        correction_target(triplet, "solution_only")  # a CoT row, not a correction row


def test_sampled_paths_become_chains_and_distinct_mistakes():
    lines = as_chain("First 125 + 48 = 173.\nThen 173 + 60 = 233.\nThe answer is 233.")
    assert lines.steps == ["First 125 + 48 = 173.", "Then 173 + 60 = 233."]
    assert lines.text().splitlines()[-1] == "The answer is 233."
    renumbered = as_chain("Step 3: 1 + 1 = 2.\nStep 7: 2 + 2 = 4. The answer is 4.")
    assert renumbered.text() == "Step 1: 1 + 1 = 2.\nStep 2: 2 + 2 = 4.\nThe answer is 4."
    m = Mistakes(SampleParams(per_question=2, max_steps=3))
    assert m.judge(1, WRONG, False, {})["mistake"]
    assert m.judge(1, WRONG.replace("\n", "  \n"), False, {})["skip"] == "duplicate path"
    assert not m.judge(1, "Step 1: 125 + 48 = 173.\nThe answer is 173.", True, {})["mistake"]
    assert m.judge(1, "", False, {})["skip"] == "no steps"
    long = "\n".join(f"Step {k}: {k} + 1 = {k + 1}." for k in range(1, 5))
    assert m.judge(1, long, False, {})["skip"] == "more than 3 steps"
    assert m.judge(1, "Step 1: 125 - 48 = 77.\nThe answer is 17.", False, {})["mistake"]
    assert "already 2" in m.judge(1, "Step 1: 9 * 9 = 81.", False, {})["skip"]
    assert m.judge(2, WRONG, False, {})["mistake"]  # another question: its own count
    assert m.judge(1, "Step 1: 9 * 9 = 81.", False, {}, "endpoint0:lab")["mistake"]  # per source
    assert m.judge(1, WRONG, False, {}, "endpoint0:lab")["skip"] == "duplicate path"  # across


def test_extra_cot_goes_to_unsolved_questions_first_then_more_samples():
    solved, unsolved = ["a", "b"], ["c"]
    assert extra_plan(solved, unsolved, 1) == [("c", 0)]
    assert extra_plan(solved, unsolved, 5) == [("c", 0), ("a", 1), ("b", 1), ("c", 1), ("a", 2)]
    assert extra_plan([], [], 3) == []


def test_evolved_questions_are_labelled_by_a_majority_or_dropped():
    extract = get_task("gsm8k").extract
    numbers, winner = label(["The answer is 7.", "So 7. The answer is 7.", "The answer is 8."],
                            extract)
    assert numbers == ["7", "7", "8"] and winner == "7"
    assert label(["The answer is 7.", "The answer is 8.", "The answer is 9."], extract)[1] is None
    assert label(["The answer is 7.", "no idea", "nothing"], extract)[1] is None


@pytest.mark.slow
def test_only_output_tokens_carry_loss(models_home: Path, tmp_path: Path):
    """The correction and CoT rows through the real SFT trainer's data path: labels are -100
    exactly on the prompt's token ids, and the trained ids decode to the output + EOS."""
    from transformers import AutoTokenizer

    from engine.prompts import render
    from engine.recipes import LoraSpec, StudentSpec, TrainingSpec
    from engine.student.chat import prompt_ids
    from engine.student.load import load_student
    from engine.student.train import make_sft_trainer

    from .tiny_model import ensure_tiny_model

    tiny = ensure_tiny_model(models_home)
    base = ROOT / "recipes"
    triplet = F.parse_triplet(REAL, 2)
    rows = [{"prompt": [{"role": "user", "content": render(
                 "prompts/lema/student_correct.j2", base, question=QUESTION,
                 solution=as_chain(WRONG).text())}],
             "completion": correction_target(triplet, "full")},
            {"prompt": [{"role": "user", "content": render("prompts/lema/student.j2", base,
                                                           question=QUESTION)}],
             "completion": corrected_chain(triplet, as_chain(WRONG))}]
    assert rows[0]["prompt"][0]["content"].endswith("}\nIncorrect Step:")
    student = StudentSpec(model=str(tiny), quantization="none", max_length=1024,
                          lora=LoraSpec(r=4, alpha=8, dropout=0.0))
    model, tok = load_student(student, for_training=True)
    trainer = make_sft_trainer(model, tok, rows, student=student, out_dir=tmp_path,
                               training=TrainingSpec(max_steps=1, batch_size=2, grad_accum=1))
    examples = [trainer.train_dataset[i] for i in range(2)]
    batch = trainer.data_collator(examples)
    tok = AutoTokenizer.from_pretrained(tiny)
    for i, row in enumerate(rows):
        ids = [int(x) for x, m in zip(batch["input_ids"][i], batch["attention_mask"][i],
                                      strict=True) if m]
        labels = [int(x) for x in batch["labels"][i][:len(ids)]]
        n_prompt = len(prompt_ids(tok, row["prompt"]))
        assert ids[:n_prompt] == prompt_ids(tok, row["prompt"])
        assert labels[:n_prompt] == [-100] * n_prompt  # nothing of the prompt is trained
        assert labels[n_prompt:] == ids[n_prompt:]  # every output token is
        trained = tok.decode(labels[n_prompt:])
        assert trained.startswith(row["completion"] + "<|im_end|>")
        assert "Original Solution" not in trained and "Question" not in trained


def test_the_answer_filter_reads_math_answers_with_the_task():
    math = ("Step 2.\nExplanation: Halve, do not double.\nCorrect Solution:\n{\n...\n"
            "Step 2: $\\frac{2}{4} = \\frac{1}{2}$.\nThe answer is $\\frac{1}{2}$.\n}")
    t = F.parse_triplet(math, 2)
    assert t.ok and t.answer_line == "The answer is $\\frac{1}{2}$."
    gold = {"question": "q", "answer": "$\\boxed{\\frac12}$"}
    assert drop_reason(t, None, get_task("math_boxed"), gold)[0] is None
    assert drop_reason(t, None, get_task("math_boxed"), {"question": "q", "answer": "2"})[0] \
        == "wrong answer"
    assert corrected_chain(t, as_chain(WRONG)).endswith("\nThe answer is $\\frac{1}{2}$.")
