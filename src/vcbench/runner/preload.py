"""Serialised first imports: a task's heavy native modules are imported by one process at a time.

torch, numba and the packages built on them (``gears`` compiles and caches numba code through
``dcor`` when imported) load shared libraries, JIT-compile and write on-disk caches while they are
first imported. Task processes that do this side by side (the ``processes`` and ``dask``
executors) race on those caches (the likely cause of the reported LLVM-symbol crash of parallel
``gears`` imports). So before a task runs, its process imports the modules that its model
needs (``model_imports``) while it holds an exclusive lock on ``LOCK_FILE`` (one per user and
machine, ``fcntl.flock``); a second task waits for the first to finish importing, then imports
(mostly from the caches the first wrote). The same lock serialises the first call of the Sinkhorn
metrics' numba kernel (``metric_imports``), also cached on disk. Modules the process already has
cost nothing; a module that fails to import is left to the task, whose own import then reports the
error.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

# the optional extra a model needs -> native modules imported before the model's own module
_NATIVE = {"torch": ("torch",), "gears": ("torch", "numba"), "biolord": ("torch",)}


def lock_file() -> Path:
    """The lock that serialises first imports on this machine (per user)."""
    user = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return Path(tempfile.gettempdir()) / f"vcbench-imports-{user}.lock"


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def model_imports(name: str) -> tuple[str, ...]:
    """The modules to import before a task of model ``name`` runs: its extra's native modules and
    the model's own module (none for the core numpy models)."""
    from vcbench.models.registry import LAZY_MODELS

    if name in LAZY_MODELS:
        path, extra = LAZY_MODELS[name]
        return (*_NATIVE.get(extra, ("torch",)), path.partition(":")[0])
    if ":" in name:  # a user's model given as module:Class
        return (name.partition(":")[0],)
    return ()


def metric_imports(metrics: str | Sequence[str]) -> tuple[str, ...]:
    """The warm-ups a task's ``metrics`` need: the Sinkhorn metrics' numba kernel (``cache=True``:
    compiled or loaded from numba's cache on its first call)."""
    from vcbench.metrics.registry import resolve_metrics

    try:
        names = [metric.name for metric in resolve_metrics(metrics)]
    except Exception:  # the task reports unknown metrics itself
        return ()
    return (f"{__name__}:warm_sinkhorn_kernel",) if any("sinkhorn" in n for n in names) else ()


def warm_sinkhorn_kernel() -> None:
    """Load the Sinkhorn kernel with one tiny call (the compiled module, or numba's kernel from
    its on-disk cache, compiled there first where it is not)."""
    import numpy as np

    from vcbench.metrics.sinkhorn_kernel import row_logsumexp

    row_logsumexp(np.zeros((1, 1)), 1.0, np.zeros(1), np.zeros(1))


_warmed: set[str] = set()  # the "module:function" warm-ups already run in this process


def import_serially(modules: Sequence[str]) -> list[str]:
    """Import ``modules`` not yet imported in this process while holding ``lock_file()`` (an entry
    ``module:function`` also calls the function once per process); returns the entries done now."""
    missing = [m for m in modules if m not in sys.modules and m not in _warmed]
    if not missing:
        return []
    done = []
    with _exclusive(lock_file()):
        for entry in missing:
            module, _, function = entry.partition(":")
            try:
                imported = importlib.import_module(module)
                if function:
                    getattr(imported, function)()
                    _warmed.add(entry)
                done.append(entry)
            except Exception:  # the task's own import reports it
                continue
    return done
