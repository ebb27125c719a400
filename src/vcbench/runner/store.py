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
from pathlib import Path
from typing import Any

import pandas as pd

from vcbench.files import write_json_atomic, write_table_atomic

__all__ = ["ResultStore", "task_id", "write_json_atomic", "write_table_atomic"]


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
