"""The playground's engine side: a run's trained student, its base student and its teacher
answer one question, streamed (the tiny student; the scripted teacher over real HTTP), and
the exchange is saved as traces of the playground run."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import playground as pg
from engine import runner
from engine.store import Store, runs, traces
from engine.validate import parse_recipe

from .conftest import write_jsonl
from .test_cot import questions, recipe_text, server  # noqa: F401  (server is a fixture)
from .tiny_model import ensure_tiny_model

pytestmark = pytest.mark.slow
QUESTION = "Q5: What is 5 plus 7?"


def trained_run(tmp_path: Path, db_path: Path, url: str, models_home: Path) -> int:
    text = recipe_text(write_jsonl(tmp_path / "q.jsonl", questions()), url,
                       ensure_tiny_model(models_home))
    run_id, status = runner.run_recipe(parse_recipe(text, str(tmp_path / "cot.yaml"), tmp_path),
                                       db_path)
    assert status == "completed"
    return run_id


def test_three_models_stream_then_save(tmp_path, db_path, server, models_home):  # noqa: F811
    run_id = trained_run(tmp_path, db_path, server.url, models_home)
    events: list = []
    settings = pg.Settings(temperature=0.0, max_new_tokens=12)
    pg.run_playground(pg.PlaygroundSpec(str(db_path), run_id, ("student", "base", "teacher"),
                                        QUESTION, settings), events.append)
    assert isinstance(events[-1], pg.Finished)
    done = {e.slot: e for e in events if isinstance(e, pg.Done)}
    assert sorted(done) == [0, 1, 2] and not any(d.error for d in done.values())
    for slot, d in done.items():  # the pieces streamed add up to the whole answer
        assert "".join(e.text for e in events if isinstance(e, pg.Piece) and e.slot == slot) \
            == d.text
    assert done[2].text.strip() == "Step 1: 5 + 7 = 12.\nThe answer is 12."  # scripted teacher
    assert 0 < done[0].tokens <= 12 and 0 < done[1].tokens <= 12
    assert done[0].model.endswith("+ adapter") and "+" not in done[1].model
    # the teacher got the sampling settings
    assert server.bodies[-1]["max_tokens"] == 12 and server.bodies[-1]["temperature"] == 0.0
    # greedy: asking again gives the same student answer
    again: list = []
    pg.run_playground(pg.PlaygroundSpec(str(db_path), run_id, ("student",), QUESTION, settings),
                      again.append)
    assert [e.text for e in again if isinstance(e, pg.Done)] == [done[0].text]
    with Store(db_path) as store:
        ids = pg.save_exchange(store, question=QUESTION, source_run=run_id, settings=settings,
                               answers=[("student", done[0]), ("base", done[1]),
                                        ("teacher", done[2])])
        play = pg.playground_run(store)
        assert play != run_id and runs.get_run(store, play).paradigm == "playground"
        saved = [traces.get_trace(store, i) for i in ids]
        assert [t.role for t in saved] == ["student", "base", "teacher"]
        assert all(t.run_id == play and t.stage == "playground" and t.prompt == QUESTION
                   for t in saved)
        assert [s.text for s in saved[2].steps] == ["Step 1: 5 + 7 = 12.", "The answer is 12."]
        assert saved[0].parsed["source_run"] == run_id and saved[0].parsed["max_new_tokens"] == 12
        # a second exchange goes to the same playground run
        pg.save_exchange(store, question="x", source_run=run_id, settings=settings,
                         answers=[("teacher", done[2])])
        assert pg.playground_run(store) == play and traces.count_traces(store, play) == 4


def test_student_without_adapter_says_so(tmp_path, db_path, server, models_home):  # noqa: F811
    run_id = trained_run(tmp_path, db_path, server.url, models_home)
    with Store(db_path) as store:
        store.conn.execute("DELETE FROM artifacts WHERE run_id = ?", (run_id,))
    events: list = []
    pg.run_playground(pg.PlaygroundSpec(str(db_path), run_id, ("student", "teacher"), QUESTION,
                                        pg.Settings(max_new_tokens=8)), events.append)
    done = [e for e in events if isinstance(e, pg.Done)]
    assert "has no trained adapter" in (done[0].error or "") and done[1].error is None
