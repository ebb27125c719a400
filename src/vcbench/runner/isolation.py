"""Run one task in a child process: time limit, memory cap, peak memory, survival of a crashing
model, and death with the parent.

On Linux the child is forked from the calling process, which already has vcbench and its libraries
imported, so starting one costs milliseconds (the calling process only orchestrates: models, and
any OpenMP/torch thread pools they start, live in the children). Elsewhere a fork server with
vcbench preloaded is used. The child sends back the function's (small) return value, or the error and its
traceback, together with its own peak resident memory. If the child exceeds the time limit it is
killed; if it dies without answering (``os._exit``, a segfault, the kernel's OOM killer) that is
recorded as well. Either way the caller gets an ``Outcome`` and the rest of the grid goes on.

A child never outlives the process that started it: on Linux it asks the kernel for SIGKILL when
its parent dies (``prctl(PR_SET_PDEATHSIG)``); elsewhere a watchdog thread exits it once its parent
is gone. So a killed ``vcbench run`` leaves no task computing or writing.

``limit_memory(n_bytes)``, called inside a task's process, caps its address space
(``RLIMIT_AS``); an allocation beyond the cap raises ``MemoryError``, reported as "out of memory".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import re
import resource
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vcbench.errors import NotApplicableError

if "fork" in multiprocessing.get_all_start_methods():
    _CONTEXT = multiprocessing.get_context("fork")
else:  # pragma: no cover - macOS / Windows
    _CONTEXT = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    )


@dataclass(frozen=True)
class Outcome:
    """What happened to one isolated call."""

    status: str  # "ok", "failed" or "not_applicable" (NotApplicableError: skipped, not failed)
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    peak_memory_mib: float | None = None
    wall_seconds: float = 0.0
    cpu_seconds: float | None = None  # user + system CPU time of the child (None: not reported)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_seconds() -> float:
    """User + system CPU time of this process and the children it waited for (a forked child's
    counts start at zero)."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


_PR_SET_PDEATHSIG = 1
_UNITS = {"": 1, "b": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
_memory_limit: int | None = None  # the cap limit_memory set in this process, for the error text


def parse_memory(value: str | float | int) -> int:
    """Bytes of a size such as ``8GB``, ``512 MiB``, ``1.5g`` or a plain number of bytes."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        size = float(value)
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?)b?\s*", str(value).lower())
        if match is None:
            raise ValueError(f"{value!r} is not a memory size; write e.g. 8GB, 512MB or 2GiB")
        number, unit, binary = match.groups()
        scale = 1024 ** "kmgt".index(unit) * 1024 if binary and unit else _UNITS[unit]
        size = float(number) * scale
    if size <= 0:
        raise ValueError(f"a memory size must be positive, got {value!r}")
    return int(size)


def limit_memory(n_bytes: int | None) -> None:
    """Cap this process's address space at ``n_bytes`` (no-op for None or where unsupported)."""
    global _memory_limit
    if n_bytes is None or not hasattr(resource, "RLIMIT_AS"):
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = n_bytes if hard == resource.RLIM_INFINITY else min(n_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    _memory_limit = cap


def _die_with_parent(parent: int) -> None:
    """Arrange for this (child) process to end when ``parent`` does."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
            if os.getppid() != parent:  # the parent died before the request took effect
                os._exit(1)
            return

    def watch() -> None:  # pragma: no cover - non-Linux fallback
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _error_text(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, MemoryError):
        cause = cause.__cause__
    if cause is not None:  # e.g. a ModelError raised from a MemoryError
        if _memory_limit is None:
            return f"MemoryError: out of memory: {cause}"
        return (
            f"MemoryError: out of memory (the task exceeded its memory_limit of "
            f"{_memory_limit / 1e9:.3g} GB): {cause}"
        )
    return f"{type(exc).__name__}: {exc}"


def _child(
    connection: Any, function: Callable[..., Any], args: tuple[Any, ...], parent: int
) -> None:
    _die_with_parent(parent)
    try:
        value = function(*args)
        connection.send(("ok", value, None, None, _peak_mib(), _cpu_seconds()))
    except NotApplicableError as exc:
        connection.send(("not_applicable", None, str(exc), None, _peak_mib(), _cpu_seconds()))
    except BaseException as exc:  # report everything, KeyboardInterrupt included
        trace = traceback.format_exc()
        connection.send(("failed", None, _error_text(exc), trace, _peak_mib(), _cpu_seconds()))
    finally:
        connection.close()


def run_isolated(
    function: Callable[..., Any], args: tuple[Any, ...], time_limit: float | None = None
) -> Outcome:
    """Call ``function(*args)`` in a child process, killing it after ``time_limit`` seconds."""
    start = time.perf_counter()
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(
        target=_child, args=(sender, function, args, os.getpid()), daemon=False
    )
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
            status, value, error, trace, peak, cpu = receiver.recv()
        except EOFError:
            process.join()
            return Outcome(
                "failed",
                error=f"The task's process died without reporting (exit code {process.exitcode}); "
                "it may have run out of memory or crashed.",
                wall_seconds=time.perf_counter() - start,
            )
        process.join()
        return Outcome(status, value, error, trace, peak, time.perf_counter() - start, cpu)
    finally:
        if process.is_alive():  # e.g. KeyboardInterrupt while waiting
            process.kill()
            process.join()
        receiver.close()
