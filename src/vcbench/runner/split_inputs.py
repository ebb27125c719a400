"""A split's inputs (its prepared data and its ``Split``), read once per run and shared by its tasks.

The run's main process reads each split's ``data.h5ad`` and ``split.parquet`` once (``preload``).
Task processes forked from it inherit those objects (copy-on-write: nothing is read, parsed or sent
again), where each task used to read both files itself. A process that did not preload them (a
Dask worker, a task run in the main process itself) reads the files, as before: the objects are
the same, so are the scores. The main process never hands its own copies to a task that runs in
it, so no task can change what the next one reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import anndata as ad

from vcbench.scenarios.io import load_split
from vcbench.scenarios.split import Split

SPLIT_FILE, DATA_FILE = "split.parquet", "data.h5ad"
_loaded: dict[Path, tuple[ad.AnnData, Split]] = {}
_owner: int | None = None  # the process that preloaded them


def read_inputs(folder: Path) -> tuple[ad.AnnData, Split]:
    """The prepared data and the split stored in a split's ``folder``."""
    return ad.read_h5ad(folder / DATA_FILE), load_split(folder / SPLIT_FILE)


def preload(folders: Iterable[Path]) -> None:
    """Read the inputs of every split folder once, in this process, for the tasks it forks."""
    global _owner
    forget()
    for folder in dict.fromkeys(Path(f) for f in folders):
        _loaded[folder] = read_inputs(folder)
    _owner = os.getpid()


def forget() -> None:
    """Drop the preloaded inputs (after a run)."""
    global _owner
    _loaded.clear()
    _owner = None


def split_inputs(folder: Path) -> tuple[ad.AnnData, Split]:
    """A split's (data, split): inherited from the preloading process when this is a process it
    forked, else read from ``folder``."""
    folder = Path(folder)
    if _owner is not None and os.getpid() != _owner and folder in _loaded:
        return _loaded[folder]
    return read_inputs(folder)


def is_preloaded(folder: Path) -> bool:
    """Whether a process forked from this one would inherit ``folder``'s inputs."""
    return _owner == os.getpid() and Path(folder) in _loaded
