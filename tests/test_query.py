"""The query bar's language: what it selects on a real project, errors at their position,
SQL-injection attempts treated as text, saved slices in the project database."""

from __future__ import annotations

import pytest

from engine import browse, labels
from engine.query import QueryError, compile_query, delete_slice, save_slice, slices
from engine.store import Store
from tests.label_fixtures import make_project, step_ids


def _ids(store: Store, query: str) -> list[int]:
    return [r.id for r in browse.page_rows(store, browse.TraceFilter(query=query))]


@pytest.fixture
def project(tmp_path):
    db = tmp_path / "p.db"
    ids = make_project(db)
    with Store(db) as store:
        labels.set_label(store, step_ids(store, ids["student"])[1], "correct", "ann")
        store.insert("evaluations", {"run_id": ids["run"], "stage": "evaluate",
                                     "trace_id": ids["good"], "passed": 1})
        yield store, ids


def test_queries_select_what_they_say(project):
    store, ids = project
    t, s, s2, g = ids["teacher"], ids["student"], ids["student2"], ids["good"]
    assert _ids(store, "verdict = wrong") == [s, s2]
    assert _ids(store, "verdict != wrong") == [t, g]
    assert _ids(store, "steps > 2 and role = student") == [s, g]
    assert _ids(store, f"run in ({ids['run']}, 99) and text ~ \"APPLES\"") == [t, s, g]
    assert _ids(store, 'verdict = wrong and steps > 2 and run in (1, 2) and text ~ "7 apples"') \
        == [s]
    assert _ids(store, "not (role = teacher or verdict = wrong)") == [g]
    assert _ids(store, "wrong_steps >= 2") == [s]
    assert _ids(store, 'step ~ "12 - 2"') == [t, g]
    assert _ids(store, 'step !~ "apples"') == [s2]
    assert _ids(store, "passed = yes") == [g]
    assert _ids(store, "label = any") == [s]
    assert _ids(store, "label = none and verdict = wrong") == [s2]
    assert _ids(store, "label = correct and disagree = yes") == [s]  # teacher said wrong
    assert _ids(store, "disagree = no") == [t, s2, g]
    assert _ids(store, "role not in (teacher, 'student')") == []
    assert _ids(store, "id < 0 or score > 0.5") == []


@pytest.mark.parametrize(("query", "pos", "reason"), [
    ("", 0, "empty"),
    ("verdict =", 9, "expected a value"),
    ("verdit = wrong", 0, "unknown field 'verdit'"),
    ("steps > five", 8, "steps takes an integer number"),
    ("steps > 2.5", 8, "integer"),
    ("stage < teach", 6, "stage is text"),
    ('text ~ "carry', 7, "never closed"),
    ("verdict = wrong and", 19, "expected a field name"),
    ("verdict = wrong steps > 2", 16, "expected 'and', 'or' or the end"),
    ("(verdict = wrong", 16, "expected ')'"),
    ("run in 3, 4", 7, "expected '('"),
    ("run in (3 4)", 10, "expected ',' or ')'"),
    ("passed = maybe", 9, "passed is yes or no"),
    ("label = great", 8, "label is correct, wrong"),
    ("verdict ; DROP TABLE traces", 8, "unexpected character ';'"),
    ("step = x", 5, "step ~"),
])
def test_errors_point_at_their_position(query, pos, reason):
    with pytest.raises(QueryError) as err:
        compile_query(query)
    assert err.value.pos == pos and reason in err.value.reason
    caret = err.value.caret().splitlines()
    assert caret[0] == query and caret[1].index("^") == pos


@pytest.mark.parametrize("attack", [
    "'; DROP TABLE traces; --",
    "x' OR '1'='1",
    '%" OR 1=1 --',
    "%",
    "_",
    "\\",
])
def test_injection_attempts_are_searched_as_text(project, attack):
    store, _ = project
    quoted = '"' + attack.replace("\\", "\\\\").replace('"', '\\"') + '"'
    sql, params = compile_query(f"text ~ {quoted} or stage = {quoted} or step ~ {quoted}")
    # never pasted: the SQL is the same as for a harmless word; the text is only bound
    assert sql == compile_query('text ~ "x" or stage = "x" or step ~ "x"')[0]
    assert params[1] == attack and params[0].strip("%").replace("\\", "") in attack.replace(
        "\\", "")
    assert _ids(store, f"text ~ {quoted} or stage = {quoted} or step ~ {quoted}") == []
    assert store.one("SELECT COUNT(*) FROM traces")[0] == 4  # the table is still there


def test_a_trace_that_holds_the_attack_text_is_found_literally(project):
    store, ids = project
    store.conn.execute("UPDATE traces SET output = ? WHERE id = ?",
                       ("done 100% of it; DROP TABLE x", ids["teacher"]))
    assert _ids(store, 'text ~ "100%"') == [ids["teacher"]]
    assert _ids(store, 'text ~ "1_0"') == []  # _ is a character, not a wildcard
    assert _ids(store, "text ~ '; drop table'") == [ids["teacher"]]


def test_slices_are_saved_in_the_project_and_checked(tmp_path):
    db = tmp_path / "p.db"
    make_project(db)
    with Store(db) as store:
        save_slice(store, "wrong long", "verdict = wrong and steps > 2")
        save_slice(store, "disagreements", "disagree = yes")
        save_slice(store, "wrong long", "verdict = wrong and steps > 1")  # replaced
        with pytest.raises(QueryError):
            save_slice(store, "broken", "steps >")
        with pytest.raises(Exception, match="needs a name"):
            save_slice(store, " ", "steps > 1")
    with Store(db, readonly=True) as store:
        assert slices(store) == [("disagreements", "disagree = yes"),
                                 ("wrong long", "verdict = wrong and steps > 1")]
    with Store(db) as store:
        delete_slice(store, "disagreements")
        assert [name for name, _ in slices(store)] == ["wrong long"]
