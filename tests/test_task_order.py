"""Tasks are spread over splits, so parallel jobs never compute one split's truth statistics twice."""

from __future__ import annotations

from types import SimpleNamespace

from vcbench.runner.benchmark import spread_over_splits


def _task(split: str, model: str) -> SimpleNamespace:
    return SimpleNamespace(split=SimpleNamespace(split_id=split), task_id=f"{split}/{model}")


def test_each_splits_first_task_comes_first() -> None:
    tasks = [_task(s, m) for s in ("a", "b", "c") for m in ("x", "y")] + [_task("a", "z")]
    order = [t.task_id for t in spread_over_splits(tasks)]
    assert order == ["a/x", "b/x", "c/x", "a/y", "b/y", "c/y", "a/z"]
    assert sorted(order) == sorted(t.task_id for t in tasks)
