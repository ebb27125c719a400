"""The result store: atomic writes and content-hashed task identities, so nothing is half-written,
lost or duplicated.

Layout under the output directory::

    splits/<split_id>/split.json, data.h5ad   the split and the data its models use (prepared once)
    tasks/<task_id>/results.parquet           the task's tidy results (written by the task)
    tasks/<task_id>/record.json               parameters, versions, timings, status: written last,
                                              so a task is finished exactly when its record says ok
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd


def _write_atomic(path: Path, write: Callable[[str], None]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def write_table_atomic(table: pd.DataFrame, path: str | Path) -> Path:
    """Write ``table`` as parquet or CSV (by suffix) to a temporary file, then rename it into place."""
    path = Path(path)
    if path.suffix == ".csv":
        return _write_atomic(path, lambda tmp: table.to_csv(tmp, index=False))
    return _write_atomic(path, lambda tmp: table.to_parquet(tmp, index=False))


def write_json_atomic(data: dict[str, Any], path: str | Path) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, default=str)
    return _write_atomic(Path(path), lambda tmp: Path(tmp).write_text(text))


def task_id(parts: dict[str, Any]) -> str:
    """A short content hash of everything that determines a task's result."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ResultStore:
    """Finished tasks' results and records under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def split_dir(self, split_id: str) -> Path:
        """Folder of a prepared split."""
        return self.root / "splits" / split_id

    def task_dir(self, task: str) -> Path:
        """Folder of a task."""
        return self.root / "tasks" / task

    def record(self, task: str) -> dict[str, Any] | None:
        """A task's record, or None when it has none yet."""
        path = self.task_dir(task) / "record.json"
        return json.loads(path.read_text()) if path.exists() else None

    def is_finished(self, task: str) -> bool:
        """Whether a task finished successfully (failed tasks run again on a re-run)."""
        record = self.record(task)
        return record is not None and record.get("status") == "ok"

    def write_record(self, task: str, record: dict[str, Any]) -> Path:
        """Write a task's record (the last thing written for a task)."""
        return write_json_atomic(record, self.task_dir(task) / "record.json")

    def results(self, tasks: list[str]) -> pd.DataFrame:
        """The concatenated results of the given finished tasks."""
        frames = [
            pd.read_parquet(self.task_dir(t) / "results.parquet")
            for t in tasks
            if self.is_finished(t)
        ]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def records(self, tasks: list[str]) -> pd.DataFrame:
        """One row per task that has a record (finished or failed)."""
        rows = [r for t in tasks if (r := self.record(t)) is not None]
        return pd.json_normalize(rows, sep=".") if rows else pd.DataFrame()
