"""vcbench.report.background: a part of the report computed in a second process gives the same
value (and the same error) as computed in this one."""

from __future__ import annotations

import os

import numpy as np
import pytest

from vcbench import threads
from vcbench.report.background import in_background


def _seeded_draws(seed: int) -> tuple[np.ndarray, int]:
    return np.random.default_rng(seed).normal(size=5), os.getpid()


def _fails(message: str) -> None:
    raise ValueError(message)


def test_background_value_equals_the_inline_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "_budget", 2)
    forked, forked_pid = in_background(_seeded_draws, 7).result()
    monkeypatch.setattr(threads, "_budget", 1)
    pending = in_background(_seeded_draws, 7)
    inline, inline_pid = pending.result()
    assert forked_pid != os.getpid() and inline_pid == os.getpid()
    assert np.array_equal(forked, inline)
    assert np.array_equal(forked, np.random.default_rng(7).normal(size=5))  # independent oracle
    assert pending.result()[1] == inline_pid  # computed once


@pytest.mark.parametrize("budget", [1, 2])
def test_background_errors_are_raised_by_result(monkeypatch, budget: int) -> None:
    monkeypatch.setattr(threads, "_budget", budget)
    pending = in_background(_fails, "no findings")
    with pytest.raises(ValueError, match="no findings"):
        pending.result()
