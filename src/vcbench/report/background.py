"""Run parts of a report build in other processes while this one builds the rest.

``in_background(function, *args)`` starts ``function(*args)`` in a forked process when this
process's thread budget (``vcbench.threads.budget``) has at least two cores, and returns a
``Pending`` whose ``result()`` waits for the value (re-raising the function's error). The forked
process inherits ``function`` and ``args`` (nothing is pickled but the value sent back). With one
core, or where fork is not available, the function runs on the first ``result()`` call instead.
Either way the value is the same: the function runs the same code on the same inputs.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from vcbench.threads import budget

T = TypeVar("T")
_FORK = (
    multiprocessing.get_context("fork")
    if "fork" in multiprocessing.get_all_start_methods()
    else None
)


def _child(connection: Any, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        value = function(*args)
    except BaseException as exc:
        try:
            connection.send(("failed", exc))
        except Exception:  # an error that cannot be pickled: its text
            connection.send(("failed", RuntimeError(f"{type(exc).__name__}: {exc}")))
    else:
        connection.send(("ok", value))
    finally:
        connection.close()


class Pending(Generic[T]):
    """A value being computed in another process (or, lazily, in this one)."""

    def __init__(self, function: Callable[..., T], args: tuple[object, ...]) -> None:
        self._function, self._args = function, args
        self._process: Any = None
        self._receiver: Any = None
        self._done = False
        self._value: T | None = None
        if budget() >= 2 and _FORK is not None:
            self._receiver, sender = _FORK.Pipe(duplex=False)
            self._process = _FORK.Process(target=_child, args=(sender, function, args))
            self._process.daemon = True
            self._process.start()
            sender.close()  # the child holds the only write end: its death ends the pipe

    def result(self) -> T:
        """The value (waits for the other process; computes it here if none was started)."""
        if self._done:
            return self._value  # type: ignore[return-value]
        if self._process is None:
            self._value = self._function(*self._args)
        else:
            try:
                status, payload = self._receiver.recv()
            except EOFError:
                raise RuntimeError(
                    f"The report's background process ({getattr(self._function, '__name__', '')})"
                    f" died without answering (exit code {self._process.exitcode})."
                ) from None
            finally:
                self._process.join()
                self._receiver.close()
            if status == "failed":
                raise payload
            self._value = payload
        self._done = True
        return self._value  # type: ignore[return-value]


def in_background(function: Callable[..., T], *args: object) -> Pending[T]:
    """``function(*args)``, started in a forked process when there are 2+ cores (see module)."""
    return Pending(function, args)
