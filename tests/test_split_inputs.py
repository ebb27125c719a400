"""A split's inputs are read once by the main process and inherited by the tasks it forks
(vcbench.runner.split_inputs); the calibration controls share the split's truth cache; every
isolated task reports its CPU time."""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from vcbench.runner import split_inputs as si
from vcbench.runner.isolation import run_isolated


def _write_split_folder(folder: Path, value: float) -> None:
    """A folder with a tiny data.h5ad whose X is all ``value`` (the split file is faked)."""
    folder.mkdir(parents=True)
    data = ad.AnnData(
        X=np.full((3, 2), value, dtype=np.float32), obs=pd.DataFrame(index=list("abc"))
    )
    data.write_h5ad(folder / si.DATA_FILE)


def _first_value_and_pid(folder: Path) -> tuple[float, int]:
    data, _ = si.split_inputs(folder)
    return float(data.X[0, 0]), os.getpid()


@pytest.fixture
def fake_split_file(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    reads: list[Path] = []

    def load_split(path: Path) -> str:
        reads.append(Path(path))
        return "split"

    monkeypatch.setattr(si, "load_split", load_split)
    return reads


def test_forked_tasks_inherit_the_preloaded_inputs(tmp_path: Path, fake_split_file) -> None:
    folder = tmp_path / "split"
    _write_split_folder(folder, 1.0)
    si.preload([folder, folder])
    try:
        assert si.is_preloaded(folder) and len(fake_split_file) == 1  # read once
        (folder / si.DATA_FILE).unlink()  # a forked task cannot be reading the file
        outcome = run_isolated(_first_value_and_pid, (folder,))
        assert outcome.status == "ok", outcome.error
        value, pid = outcome.value
        assert value == 1.0 and pid != os.getpid()
        _write_split_folder(tmp_path / "other", 2.0)  # not preloaded: read by the task
        other = run_isolated(_first_value_and_pid, (tmp_path / "other",))
        assert other.value[0] == 2.0
    finally:
        si.forget()
    assert not si.is_preloaded(folder)


def test_the_preloading_process_itself_reads_from_disk(tmp_path: Path, fake_split_file) -> None:
    folder = tmp_path / "split"
    _write_split_folder(folder, 1.0)
    si.preload([folder])
    try:
        (folder / si.DATA_FILE).unlink()
        _write_split_folder(tmp_path / "fresh", 5.0)
        (tmp_path / "fresh" / si.DATA_FILE).rename(folder / si.DATA_FILE)
        # a task run in the main process never gets the main process's own (shared) copy
        assert _first_value_and_pid(folder)[0] == 5.0
    finally:
        si.forget()


def _burn(seconds: float) -> int:
    end = os.times().user + seconds
    n = 0
    while os.times().user < end:
        n += 1
    return n


def test_isolated_calls_report_their_cpu_seconds() -> None:
    idle = run_isolated(os.getpid, ())
    busy = run_isolated(_burn, (0.5,))
    assert idle.cpu_seconds is not None and idle.cpu_seconds < 0.4  # counts start at the fork
    assert busy.cpu_seconds is not None and busy.cpu_seconds >= 0.5
