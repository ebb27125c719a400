"""Run one task in a child process: time limit, peak memory, and survival of a crashing model.

On Linux the child is forked from the calling process, which already has vcbench and its libraries
imported, so starting one costs milliseconds (the calling process only orchestrates: models, and
any OpenMP/torch thread pools they start, live in the children). Elsewhere a fork server with
vcbench preloaded is used. The child sends back the function's (small) return value, or the error and its
traceback, together with its own peak resident memory. If the child exceeds the time limit it is
killed; if it dies without answering (``os._exit``, a segfault, the kernel's OOM killer) that is
recorded as well. Either way the caller gets an ``Outcome`` and the rest of the grid goes on.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

if "fork" in multiprocessing.get_all_start_methods():
    _CONTEXT = multiprocessing.get_context("fork")
else:  # pragma: no cover - macOS / Windows
    _CONTEXT = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )


@dataclass(frozen=True)
class Outcome:
    """What happened to one isolated call."""

    status: str  # "ok" or "failed"
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    peak_memory_mib: float | None = None
    wall_seconds: float = 0.0


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child(connection: Any, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        value = function(*args)
        connection.send(("ok", value, None, None, _peak_mib()))
    except BaseException as exc:  # report everything, KeyboardInterrupt included
        connection.send(
            ("failed", None, f"{type(exc).__name__}: {exc}", traceback.format_exc(), _peak_mib())
        )
    finally:
        connection.close()


def run_isolated(
    function: Callable[..., Any], args: tuple[Any, ...], time_limit: float | None = None
) -> Outcome:
    """Call ``function(*args)`` in a child process, killing it after ``time_limit`` seconds."""
    start = time.perf_counter()
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(target=_child, args=(sender, function, args), daemon=False)
    process.start()
    sender.close()  # the child holds the only write end: its death ends the pipe
    try:
        if not receiver.poll(time_limit):
            process.kill()
            process.join()
            return Outcome(
                "failed",
                error=f"TimeoutError: exceeded the time limit of {time_limit:g} s",
                wall_seconds=time.perf_counter() - start,
            )
        try:
            status, value, error, trace, peak = receiver.recv()
        except EOFError:
            process.join()
            return Outcome(
                "failed",
                error=f"The task's process died without reporting (exit code {process.exitcode}); "
                "it may have run out of memory or crashed.",
                wall_seconds=time.perf_counter() - start,
            )
        process.join()
        return Outcome(status, value, error, trace, peak, time.perf_counter() - start)
    finally:
        if process.is_alive():  # e.g. KeyboardInterrupt while waiting
            process.kill()
            process.join()
        receiver.close()
