"""Run one part of a report build in a second process while the first builds the rest.

``in_background(function, *args)`` starts ``function(*args)`` in a forked process when this
process's thread budget (``vcbench.threads.budget``) has at least two cores, and returns a
``Pending`` whose ``result()`` waits for the value (re-raising the function's error). With one
core, or where fork is not available, the function runs on the first ``result()`` call instead.
Either way the value is the same: the function runs the same code on the same inputs.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Generic, TypeVar

from vcbench.threads import budget

T = TypeVar("T")


class Pending(Generic[T]):
    """A value being computed in another process (or, lazily, in this one)."""

    def __init__(self, function: Callable[..., T], args: tuple[object, ...]) -> None:
        self._function, self._args = function, args
        self._pool: ProcessPoolExecutor | None = None
        self._future: Future[T] | None = None
        self._done = False
        self._value: T | None = None
        if budget() >= 2 and "fork" in multiprocessing.get_all_start_methods():
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
            self._future = self._pool.submit(function, *args)

    def result(self) -> T:
        """The value (waits for the other process; computes it here if none was started)."""
        if not self._done:
            try:
                if self._future is not None:
                    self._value = self._future.result()
                else:
                    self._value = self._function(*self._args)
            finally:
                if self._pool is not None:
                    self._pool.shutdown(wait=True)
                    self._pool = None
            self._done = True
        return self._value  # type: ignore[return-value]


def in_background(function: Callable[..., T], *args: object) -> Pending[T]:
    """``function(*args)``, started in a forked process when there are 2+ cores (see module)."""
    return Pending(function, args)
