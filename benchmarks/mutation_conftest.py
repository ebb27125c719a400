"""pytest hooks for benchmarks/mutation.sh only: copied to .mutation/GROUP/conftest.py, never
used by the suite.

mutmut's fork server collects the tests once (``--collect-only``), then forks one child per mutant.
Whatever that collection leaves in memory every child inherits; what it leaves out every child
rebuilds. So after the collection this warms the one cache that most tests rebuild (the gene
table's symbol and alias lookups, about 1.5 s a child) and freezes the heap, so that the
children's garbage collections skip the collected modules (about 0.6 s a child at pytest's exit).
It runs no numba code: numba's GNU OpenMP pool must start in the children, after the fork."""

from __future__ import annotations

import gc

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    """In a collect-only run (the fork server's warm-up): warm the gene lookups, freeze the heap."""
    if not session.config.option.collectonly:
        return
    from vcbench.knowledge.harmonize import _lookup

    for kind in ("symbol", "alias"):
        _lookup(kind)
    gc.freeze()
