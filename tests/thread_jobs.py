"""Module-level job functions for the thread-policy tests (child processes import them by name)."""

from __future__ import annotations

import os

from vcbench.threads import blas_threads


def threads_seen() -> tuple[int, str]:
    """The BLAS thread limit of the calling process and its OMP_NUM_THREADS."""
    return blas_threads(), os.environ.get("OMP_NUM_THREADS", "")
