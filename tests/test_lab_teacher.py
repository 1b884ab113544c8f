"""The scripted lab teacher through the real client over HTTP: every request kind it answers,
rendered from the shipped prompts and parsed back by the paradigms' own parsers; cache,
real token counts, errors, streaming, the probe, and the error rate it is set to."""

from __future__ import annotations

import math
import random

import pytest

from engine.lab import arith, corrections, mistakes, why
from engine.lab.chain import check_chain, check_steps, find_calc
from engine.lab.scripted import LabOptions, answer
from engine.lab.tokens import TokenCounter
from engine.paradigms.elad import formats as elad
from engine.paradigms.lema import formats as lema
from engine.paradigms.reer import formats as reer
from engine.paradigms.supercorrect import formats as sc
from engine.prompts import render
from engine.recipes import RecipeError, TeacherSpec
from engine.steps import chain_steps
from engine.store import Store
from engine.tasks import get_task
from engine.teacher import Request, open_teacher
from engine.teacher.probe import probe_endpoint
from engine.validate import parse_recipe

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("lab") / "p.db")
    with open_teacher(TeacherSpec(kind="lab", concurrency=8), store=store, stage="lab") as t:
        yield t
    store.close()


def _ask(name: str, n: int = 1, **values) -> Request:
    return Request(messages=[{"role": "user", "content": render(f"prompts/{name}", None,
                                                                 **values)}], n=n, tag=name)


def _case(seed: int):
    """A problem, a chain with one mistake in it, and where the mistake is."""
    item = arith.generate(1, arith.Dials(digits=3, ops=4, distractors=1), seed)[0]
    wrong, k = mistakes.with_mistake(item, "mixed", random.Random(seed))
    return item, wrong, k


def test_every_request_kind_over_http_is_parsed_back_by_its_paradigms_parser(teacher):
    gsm8k = get_task("gsm8k")
    for seed in range(3):
        item, wrong, k = _case(seed)
        wrong_text, q = arith.chain_text(wrong), item.question
        truth = check_chain(item, wrong_text)
        assert truth.first_wrong == k
        wrong_xml = corrections.xml_template(wrong, "things", wrong[-1].result)
        query, reference = why.query(item), why.reference(item)
        requests = [
            _ask("cot/solve.j2", question=q), _ask("lema/answer.j2", n=3, question=q),
            *[_ask("elad/verify_step.j2", question=q, solution=wrong_text, step=s)
              for s in range(1, 5)],
            _ask("elad/verify_all.j2", question=q, solution=wrong_text),
            _ask("elad/revise.j2", question=q, solution=wrong_text, step=k),
            _ask("lema/correct.j2", question=q, solution=wrong_text),
            _ask("lema/evolve.j2", question=q, count=3, difficulty="harder"),
            _ask("supercorrect/template.j2", question=q, solution=item.solution),
            _ask("supercorrect/solve.j2", question=q),
            _ask("supercorrect/correct.j2", question=q, solution=item.solution, attempt=wrong_xml),
            _ask("supercorrect/self_correct.j2", question=q, attempt=wrong_xml),
            _ask("reer/draft.j2", query=query, answer=reference),
        ]
        results = teacher.chat_many(requests)
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        got = {}
        for r in results:
            got.setdefault(r.tag, []).append(r)

        cot = got["cot/solve.j2"][0].text
        assert check_chain(item, cot).correct and gsm8k.verify(cot, item.record()).passed
        assert len(chain_steps(cot).texts) == 4
        labels = [gsm8k.extract(c.text) for c in got["lema/answer.j2"][0].completions]
        assert lema.majority(labels) == str(item.answer)

        yes_no = [elad.parse_yes_no(r.text) for r in got["elad/verify_step.j2"]]
        assert yes_no == truth.verdicts and yes_no[k - 1] is False
        verdicts = elad.parse_verdicts(got["elad/verify_all.j2"][0].text, 4)
        assert verdicts.verdicts == truth.verdicts and verdicts.first_no == k
        revision = elad.parse_revision(got["elad/revise.j2"][0].text, k)
        prefix = chain_steps(wrong_text).texts
        assert not revision.reason and check_chain(item, revision.chain(prefix)).correct

        triplet = lema.parse_triplet(got["lema/correct.j2"][0].text, n_steps=4)
        assert triplet.ok and triplet.step == k and triplet.elided == (k > 1)
        assert triplet.answer == str(item.answer)
        assert check_chain(item, triplet.full_solution(prefix)).correct
        new = lema.parse_questions(got["lema/evolve.j2"][0].text)
        assert len(new) == 3 and q not in new
        assert all(len(arith.parse_question(x).changes) == 5 for x in new)  # "harder": one more

        for name in ("supercorrect/template.j2", "supercorrect/solve.j2"):
            template = sc.parse_template(got[name][0].text)
            assert template.ok and template.answer == str(item.answer), template
            calcs = [find_calc(sc.strip_keys(s.text)) for s in template.steps]
            assert check_steps(item, calcs, int(template.answer)).correct
            assert template.generalized
        for name in ("supercorrect/correct.j2", "supercorrect/self_correct.j2"):
            fix = sc.parse_correction(got[name][0].text)
            assert fix.ok and fix.step == k and fix.answer == str(item.answer), fix
            assert find_calc(fix.correction).result == item.steps[k - 1].result

        thinking = reer.parse_think(got["reer/draft.j2"][0].text)
        assert not thinking.reason and thinking.text.startswith("Alright, the user")
        segments = reer.split_segments(thinking.text)
        assert len(segments) >= 4
        vague = next(i for i, s in enumerate(segments) if "without going into it" in s)
        edits = teacher.chat_many([_ask("reer/edit.j2", n=2, query=query, answer=reference,
                                        thinking=reer.mark_segment(segments, vague))])
        refined = [reer.parse_refine(c.text) for c in edits[0].completions]
        assert all(r and r != segments[vague] and " = " in r for r in refined)


def test_cache_real_token_counts_and_a_distinct_identity(teacher):
    item = arith.generate(1, arith.Dials(), 11)[0]
    request = _ask("cot/solve.j2", question=item.question)
    first = teacher.chat(request)
    again = teacher.chat(request)
    assert first.ok and not first.cached and again.cached and again.text == first.text
    counter = TokenCounter()
    assert first.tokens_out == counter.count(first.text) > 20
    assert first.tokens_in == counter.prompt_tokens(request.messages) > 100
    assert teacher.identity == "lab:v2?error_rate=0&style=mixed&seed=0"
    assert first.cost_usd == 0


def test_limits_stop_strings_streaming_and_the_probe(teacher):
    item = arith.generate(1, arith.Dials(), 12)[0]
    messages = _ask("cot/solve.j2", question=item.question).messages
    cut = teacher.chat(Request(messages=messages, max_tokens=5))
    assert cut.completions[0].finish_reason == "length" and cut.tokens_out == 5
    stopped = teacher.chat(Request(messages=messages, stop=["Step 2"]))
    assert stopped.text == "Step 1: " + item.solution.split("Step 1: ")[1].split("Step 2")[0]
    streamed = "".join(d.text for d in teacher.stream(Request(messages=messages, seed=3)))
    assert streamed == item.solution
    report = probe_endpoint(teacher.base_url, teacher.model, teacher._key)
    assert report.models == ["lab"] and report.model_listed and report.n_samples


def test_prompts_it_cannot_answer(teacher):
    """No lab format asked for: a short note (probes work); a format asked for about a problem
    it cannot read: a clear request error."""
    results = teacher.chat_many([
        Request(messages=[{"role": "user", "content": "Tell me a joke."}]),
        _ask("cot/solve.j2", question="Natalia sold 48 clips in April. How many in May?"),
    ])
    assert results[0].ok and "docs/lab.md" in results[0].text
    assert results[1].error.kind == "bad_request"
    assert "reads only arith questions" in results[1].error.message


def _binomial_ok(wrong: int, n: int, p: float) -> bool:
    """Within 4.5 standard deviations (a false alarm about once in 150,000 runs)."""
    return abs(wrong - n * p) <= 4.5 * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("style", ["carry", "operation", "copy", "mixed"])
def test_error_rate_is_honoured_on_2000_answers(style):
    gsm8k = get_task("gsm8k")
    problems = arith.generate(2000, arith.Dials(digits=3, ops=3, distractors=1), seed=4)
    options = LabOptions(error_rate=0.2, style=style, seed=1)
    wrong = 0
    template = render("prompts/cot/solve.j2", None, question="<QUESTION>")  # rendered once
    for p in problems:
        prompt = template.replace("<QUESTION>", p.question)
        text, kind = answer([{"role": "user", "content": prompt}], 0, options)
        assert kind == "cot.solve"
        check = check_chain(p, text)
        passed = gsm8k.verify(text, p.record()).passed
        assert passed == check.correct  # a slip always shows in the final answer
        wrong += not passed
    assert _binomial_ok(wrong, 2000, 0.2), wrong


def test_error_rate_over_http_and_other_seeds_slip_elsewhere(tmp_path):
    problems = arith.generate(200, arith.Dials(ops=3), seed=5)
    spec = TeacherSpec(kind="lab", concurrency=16, lab={"error_rate": 0.5, "style": "carry"})
    with Store(tmp_path / "p.db") as store, open_teacher(spec, store=store) as t:
        results = t.chat_many([_ask("cot/solve.j2", question=p.question) for p in problems])
        assert t.identity == "lab:v2?error_rate=0.5&style=carry&seed=0"
    flags = [not check_chain(p, r.text).correct for p, r in zip(problems, results, strict=True)]
    assert _binomial_ok(sum(flags), 200, 0.5), sum(flags)
    other = LabOptions(error_rate=0.5, style="carry", seed=9)
    again = [answer(_ask("cot/solve.j2", question=p.question).messages, 0, other)[0]
             for p in problems]
    assert again != [r.text for r in results]  # the seed decides which answers slip


def test_recipe_validation_of_lab_options(tmp_path):
    head = "schema_version: 1\nname: t\nparadigm: smoke\ndataset: {path: d.jsonl}\n"
    loaded = parse_recipe(head + "teacher:\n  kind: lab\n  lab: {error_rate: 0.1, style: copy}\n")
    assert loaded.recipe.teacher.lab is not None and loaded.recipe.teacher.lab.style == "copy"
    assert loaded.recipe.teacher.model == "lab"  # what traces name as the teacher's model
    with pytest.raises(RecipeError) as info:
        parse_recipe(head + "teacher:\n  kind: openai\n  lab: {error_rate: 0.1}\n", "r.yaml")
    assert "r.yaml:5: teacher" in str(info.value) and "set `kind: lab`" in str(info.value)
    with pytest.raises(RecipeError) as info:
        parse_recipe(head + "teacher:\n  kind: lab\n  lab: {error_rate: 2, style: sloppy}\n",
                     "r.yaml")
    text = str(info.value)
    assert "teacher.lab.error_rate" in text and "teacher.lab.style" in text and "carry" in text
    with pytest.raises(RecipeError, match="has no model to choose"):
        parse_recipe(head + "teacher: {kind: lab, model: gpt-4o}\n")
