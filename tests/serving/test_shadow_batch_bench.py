"""The batch shadow benchmark's check of the audit log (``benchmarks/shadow_batch.py``):
it passes the log of a correct pair of runs and names each way a log can be wrong."""

from __future__ import annotations

from benchmarks.shadow_batch import log_problems


def test_a_correct_log_passes() -> None:
    assert log_problems({"shadow": {"score": 50, "shadow": 50}, "alone": {"score": 50}}) == []


def test_each_wrong_log_is_named() -> None:
    missing = {"shadow": {"score": 50, "shadow": 49}, "alone": {"score": 50}}
    assert log_problems(missing) == ["the shadow scored 49 of the 50 scored families"]
    leaked = {"shadow": {"score": 50, "shadow": 50}, "alone": {"score": 50, "shadow": 3}}
    assert log_problems(leaked) == ["the runs without --shadow wrote 3 shadow entries"]
    empty = {"shadow": {}, "alone": {"score": 50}}
    assert log_problems(empty)[0].startswith("a run logged no score")
