"""pytest hooks for benchmarks/mutation.sh only: copied to .mutation/GROUP/conftest.py, never
used by the suite.

mutmut's fork server collects the tests once (``--collect-only``), then forks one child per mutant.
Whatever that collection leaves in memory every child inherits; what it leaves out every child
rebuilds. So after the collection this warms the caches that most tests rebuild: the gene
table's symbol and alias lookups (about 1.5 s a child) and numba's CPU target (its typing and
lowering registries, which numba fills on the first call of a jitted function, e.g. scanpy's
normalize_total when a test loads a dataset: about half of a small test's CPU time, 0.47 -> 0.22 s
a child); then it freezes the heap, so that the children's garbage collections skip the collected
modules (about 0.6 s a child at pytest's exit). It runs no numba code: numba's GNU OpenMP pool
(started by the first parallel call) must start in the children, after the fork."""

from __future__ import annotations

import gc

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    """In a collect-only run (the fork server's warm-up): warm the gene lookups and numba's
    registries, freeze the heap."""
    if not session.config.option.collectonly:
        return
    from vcbench.knowledge.harmonize import _lookup

    for kind in ("symbol", "alias"):
        _lookup(kind)
    from numba.core.registry import cpu_target

    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()
    gc.freeze()
