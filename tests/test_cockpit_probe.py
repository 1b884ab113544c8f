"""The training cockpit's engine side: probe traces at every checkpoint, their timeline,
"keep this checkpoint", and the machine-load metrics, on a real cot run (scripted teacher
over HTTP, the tiny student)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import probe, runner
from engine.store import Store, runs, traces
from engine.validate import parse_recipe

from .conftest import write_jsonl
from .test_cot import questions, recipe_text, server  # noqa: F401  (server is a fixture)
from .tiny_model import ensure_tiny_model

pytestmark = pytest.mark.slow


def _probe_recipe(tmp_path: Path, url: str, models_home: Path, n: int) -> str:
    text = recipe_text(write_jsonl(tmp_path / "q.jsonl", questions()), url,
                       ensure_tiny_model(models_home))
    return text.replace("learning_rate: 0.001}",
                        f"learning_rate: 0.001,\n           probe_items: {n}, "
                        "probe_max_new_tokens: 12}")


def test_probe_traces_per_checkpoint_timeline_and_keep(tmp_path, db_path, server,  # noqa: F811
                                                       models_home):
    loaded = parse_recipe(_probe_recipe(tmp_path, server.url, models_home, 2), "p.yaml",
                          tmp_path)
    run_id, status = runner.run_recipe(loaded, db_path)
    assert status == "completed"
    with Store(db_path) as store:
        found = traces.page_traces(store, run_id=run_id, role="probe", limit=100)
        # the validation rows that reach training (at most 2; the teacher's wrong solution
        # of one validation item is filtered out) x (before training + checkpoints 1, 2, 3)
        rows = {t.sample_index for t in found}
        assert rows == {0} and len(found) == 4 and {t.stage for t in found} == {"train"}
        assert sorted({t.model for t in found}) == [f"checkpoint-{s}" for s in range(4)]
        assert all(t.verdict in ("passed", "failed") and t.tokens_out <= 13 for t in found)
        line = probe.timeline(store, run_id)
        assert line is not None and line.stage == "train" and line.checkpoints == [0, 1, 2, 3]
        assert len(line.cells) == 1 and all(c is not None for row in line.cells for c in row)
        assert all(ref is not None for ref in line.references)
        for row in range(1):  # a flip is exactly a changed answer from one checkpoint to the next
            answers = [c.answer for c in line.cells[row] if c is not None]
            expect = [line.checkpoints[i] for i in range(1, 4) if answers[i] != answers[i - 1]]
            assert line.flips(row) == expect
        assert [s for s, _ in runs.metric_series(store, run_id, "train/probe_accuracy")] == \
            [0, 1, 2, 3]
        # machine load beside the loss: CPU and RAM here, no GPU curves on this machine
        latest = runs.latest_metrics(store, run_id)
        assert 0 <= latest["train/cpu_percent"] <= 100 and latest["train/ram_used_gb"] > 0
        assert not any(name.startswith("train/gpu_") for name in latest)
        # a resumed stage does not probe a checkpoint twice
        assert probe.decode_probe(store, run_id=run_id, stage="train", rows=[{"prompt": "x"}],
                                  model=None, tokenizer=None, step=3, checkpoint=None,
                                  max_new_tokens=4) == 0
        # keep checkpoint 2 (still on disk): it becomes the run's newest adapter
        kept = line.checkpoint_dirs[2]
        assert kept is not None and Path(kept).is_dir()
        probe.keep_checkpoint(store, run_id, kept, stage="train", step=2)
        adapters = [a for a in runs.artifacts(store, run_id) if a["kind"] == "adapter"]
        assert adapters[-1]["path"] == kept and adapters[-1]["meta"]["kept_checkpoint"] == 2
        with pytest.raises(FileNotFoundError, match="checkpoint-99"):
            probe.keep_checkpoint(store, run_id, Path(kept).parent / "checkpoint-99",
                                  stage="train", step=99)


def test_probe_off_when_zero(tmp_path, db_path, server, models_home):  # noqa: F811
    loaded = parse_recipe(_probe_recipe(tmp_path, server.url, models_home, 0), "p.yaml",
                          tmp_path)
    run_id, status = runner.run_recipe(loaded, db_path)
    assert status == "completed"
    with Store(db_path) as store:
        assert traces.page_traces(store, run_id=run_id, role="probe") == []
        assert probe.timeline(store, run_id) is None
        assert runs.metric_series(store, run_id, "train/probe_accuracy") == []
