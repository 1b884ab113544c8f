"""engine.metric_table: a run's metrics as rows a person reads."""

from __future__ import annotations

from engine import metric_table as mt


def test_intervals_and_counts_fold_into_their_metric_grouped_and_naturally_sorted():
    values = mt.values([("solve@10", 0.8), ("solve@2", 0.5), ("solve@2_ci_low", 0.3),
                        ("solve@2_ci_high", 0.7), ("accuracy", 0.25), ("accuracy_n", 40.0),
                        ("train/loss", 1.5), ("train/loss", 0.9), ("cost/train_tokens", 100.0),
                        ("cost/train_tokens", 250.0), ("teacher_usd", 0.0123),
                        ("orphan_ci_low", 0.1)])
    rows = mt.rows(values)
    assert [(r.group, r.name) for r in rows] == [
        ("evaluation", "accuracy"), ("evaluation", "orphan_ci_low"),
        ("evaluation", "solve@2"), ("evaluation", "solve@10"),
        ("training", "train/loss"), ("cost", "cost/train_tokens"), ("cost", "teacher_usd")]
    by = {r.name: r for r in rows}
    assert by["solve@2"].ci == "[0.3 – 0.7]" and by["solve@10"].ci == ""
    assert by["accuracy"].n == 40
    assert by["train/loss"].value == 0.9  # the latest value
    assert mt.fmt(by["cost/train_tokens"].value) == "350"  # cost/* values add up
    assert mt.fmt(1234567.0) == "1,234,567" and mt.fmt(0.000125) == "0.000125"
