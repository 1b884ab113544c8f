"""The scripted teacher's longer formats: LEMA's correction triplet and SuperCorrect's XML.

Pure text writers over an ``arith`` item and a chain already checked by
``engine.lab.chain``; ``engine.lab.scripted`` decides what to write (and whether to slip).

- ``lema_triplet``: ``Incorrect Step: Step k.`` / ``Explanation: ...`` / ``Correct
  Solution: { ... Step k: ... The answer is N. }``, with a literal ``...`` line for the
  unchanged earlier steps (as microsoft/LEMA's prompts and training data have it).
- ``xml_template``: ``<Step1>...</Step1>`` ... with a ``<Key>`` inside tricky steps (a
  carry, a borrow, a multiplication), then ``<Generalized>`` and ``<Answer>``.
- ``xml_correction``: for the first wrong step k, ``<Stepk><Cause>...</Cause>
  <Correction>...</Correction></Stepk>`` then ``<Answer>``.
"""

from __future__ import annotations

from engine.lab.arith import ArithItem, Step, chain_text
from engine.lab.mistakes import carry_places

GENERALIZED = ("For a story that changes one amount several times, keep a single running "
               "total: start from the first amount, apply each change in the order the story "
               "tells it (add what comes in, subtract what goes out, multiply when the amount "
               "becomes some times as large), and leave out numbers that describe other "
               "things. The last running total is the answer.")


def step_prose(step: Step, k: int, things: str) -> str:
    """One step in words, ending with its calculation."""
    start = f"Start with {step.a} {things}. " if k == 1 else ""
    body = {"+": f"{step.b} more {things} come in, so add: ",
            "-": f"{step.b} {things} go out, so subtract: ",
            "*": f"The number of {things} becomes {step.b} times as large, so multiply: "
            }.get(step.op, "")
    return f"{start}{body}{step.a} {step.op} {step.b} = {step.result}."


def _columns(step: Step) -> str:
    """A place-by-place working of an addition or subtraction with carries or borrows."""
    verb = "Add" if step.op == "+" else "Subtract"
    what = "carry" if step.op == "+" else "borrow"
    places = carry_places(step.a, step.op, step.b)
    names = ("ones", "tens", "hundreds", "thousands", "ten-thousands", "hundred-thousands")
    said = ", ".join(names[p] if p < len(names) else f"10^{p}" for p in places)
    return (f"{verb} place by place from the ones; the {said} place{'s' if len(places) > 1 else ''} "
            f"need{'' if len(places) > 1 else 's'} a {what}, which is where slips happen. "
            f"Check: {step.a} {step.op} {step.b} = {step.result}.")


def _times(step: Step) -> str:
    digits = str(abs(step.a))
    parts = [int(d) * 10 ** (len(digits) - 1 - i) for i, d in enumerate(digits) if d != "0"]
    products = [p * step.b for p in parts]
    return (f"Multiply place by place: {' + '.join(str(p) for p in parts)}, each times "
            f"{step.b}, gives {' + '.join(str(p) for p in products)} = {sum(products)}.")


def key_of(step: Step) -> str | None:
    """The detailed note a tricky step gets, or None for an easy one."""
    if step.op == "*" and abs(step.a) >= 10:
        return _times(step)
    if step.op in "+-" and carry_places(step.a, step.op, step.b):
        return _columns(step)
    return None


def xml_template(steps: list[Step], things: str, answer: int) -> str:
    blocks = []
    for k, step in enumerate(steps, start=1):
        key = key_of(step)
        inner = step_prose(step, k, things) + (f"\n<Key>{key}</Key>" if key else "")
        blocks.append(f"<Step{k}>\n{inner}\n</Step{k}>")
    blocks.append(f"<Generalized>{GENERALIZED}</Generalized>")
    blocks.append(f"<Answer>{answer}</Answer>")
    return "\n".join(blocks)


def explanation(item: ArithItem, k: int, reason: str, sentences: tuple[str, ...]) -> str:
    """Why step k is wrong and what it should do, in the question's words."""
    if k > len(item.steps):
        return (f"The solution is wrong from Step {k}: {reason}. The last step gives "
                f"{item.answer}, and the final line must say so.")
    gold = item.steps[k - 1]
    said = f' The question says "{sentences[k - 1]}",' if k - 1 < len(sentences) else ""
    return (f"{reason}.{said} so this step must be {gold.a} {gold.op} {gold.b} = "
            f"{gold.result}.")


def lema_triplet(k: int, why: str, correct: list[Step], answer: int) -> str:
    """The correction triplet; ``correct`` are the steps from step k on."""
    lines = [f"Incorrect Step: Step {k}.", f"Explanation: {why}", "Correct Solution:", "{"]
    if k > 1:
        lines.append("...")
    lines += chain_text(correct, answer, first=k).splitlines()
    lines.append("}")
    return "\n".join(lines)


def xml_correction(k: int, cause: str, corrected: str, answer: int) -> str:
    return (f"<Step{k}>\n<Cause>{cause}</Cause>\n<Correction>{corrected}</Correction>\n"
            f"</Step{k}>\n<Answer>{answer}</Answer>")
