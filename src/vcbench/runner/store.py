"""The result store: atomic writes and content-hashed task identities, so nothing is half-written,
lost or duplicated.

Layout under the output directory::

    splits/<split_id>/split.json, data.h5ad   the split and the data its models use (prepared once)
    tasks/<task_id>/results.parquet           the task's tidy results (written by the task)
    tasks/<task_id>/record.json               parameters, versions, timings, status: written last,
                                              so a task is finished exactly when its record says ok
    .vcbench.lock                             the running writer's PID and host (``OutputLock``)
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pandas as pd

from vcbench.errors import VcbenchError
from vcbench.files import file_mode, make_folder, write_json_atomic, write_table_atomic

__all__ = [
    "FolderBusyError",
    "OutputLock",
    "ResultStore",
    "task_id",
    "write_json_atomic",
    "write_table_atomic",
]


def task_id(parts: dict[str, Any]) -> str:
    """A short content hash of everything that determines a task's result."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


FINISHED = ("ok", "not_applicable")  # task statuses that a re-run keeps


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
        """Whether a task finished: scored, or found not applicable (failed tasks run again on a
        re-run; a not-applicable task's id fixes its model, parameters and scenario)."""
        record = self.record(task)
        return record is not None and record.get("status") in FINISHED

    def is_scored(self, task: str) -> bool:
        """Whether a task finished with results."""
        record = self.record(task)
        return record is not None and record.get("status") == "ok"

    def write_record(self, task: str, record: dict[str, Any]) -> Path:
        """Write a task's record (the last thing written for a task)."""
        return write_json_atomic(record, self.task_dir(task) / "record.json")

    def results(self, tasks: list[str]) -> pd.DataFrame:
        """The concatenated results of the given scored tasks."""
        frames = [
            pd.read_parquet(self.task_dir(t) / "results.parquet")
            for t in tasks
            if self.is_scored(t)
        ]
        if not frames:
            return pd.DataFrame()
        results = pd.concat(frames, ignore_index=True)
        if "dose" in results.columns:  # tasks without doses: "" (a groupby drops NaN keys)
            results["dose"] = results["dose"].fillna("").astype(str)
        return results

    def records(self, tasks: list[str]) -> pd.DataFrame:
        """One row per task that has a record (finished or failed)."""
        rows = [r for t in tasks if (r := self.record(t)) is not None]
        return pd.json_normalize(rows, sep=".") if rows else pd.DataFrame()


LOCK_FILE = ".vcbench.lock"


class FolderBusyError(VcbenchError):
    """Another vcbench process is writing to the same output folder."""


STALE_GRACE = 10.0  # seconds to wait when the lock's recorded holder is dead
_HELD: set[int] = set()  # lock descriptors of this process


def _close_held_in_child() -> None:
    """A forked child (a task process) must not keep the writer's lock alive: close its copies."""
    for handle in list(_HELD):
        with contextlib.suppress(OSError):
            os.close(handle)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_in_child)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


class OutputLock:
    """One writer per output folder: ``ROOT/.vcbench.lock`` holds the writer's PID, host and start
    time, and an exclusive ``flock`` on it while the writer runs.

    The kernel drops the ``flock`` when its holder dies (forked task processes close their copy of
    the descriptor, so they never keep it), so a lock left by a killed run (a dead PID) is taken
    over, after up to ``STALE_GRACE`` seconds while the dead holder's descriptor is being closed; a live holder makes a second run wait up to ``wait`` seconds, then
    refuse with a message naming the holder. (``flock`` is per host: on a network file system
    shared by several hosts the lock may not hold; run one writer per folder there.)
    """

    def __init__(self, root: str | Path, wait: float = 0.0, poll: float = 0.5) -> None:
        self.path = Path(root) / LOCK_FILE
        self.wait = wait
        self.poll = poll
        self._handle: int | None = None
        self.took_over: dict[str, Any] | None = None  # the stale holder, when there was one

    def _holder(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.path.read_text() or "{}"))
        except (OSError, ValueError):
            return {}

    def _try_once(self) -> bool:
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, file_mode())
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            return False
        if os.fstat(handle).st_ino != os.stat(self.path).st_ino:  # removed meanwhile: retry
            os.close(handle)
            return self._try_once()
        previous = self._holder()
        if previous.get("pid") and previous.get("pid") != os.getpid():
            self.took_over = previous
        text = json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            }
        )
        os.ftruncate(handle, 0)
        os.pwrite(handle, text.encode(), 0)
        os.fsync(handle)
        self._handle = handle
        _HELD.add(handle)
        return True

    def acquire(self) -> OutputLock:
        """Take the lock, waiting up to ``wait`` seconds; ``FolderBusyError`` if it stays held."""
        make_folder(self.path.parent)
        deadline = time.monotonic() + self.wait
        graced = False
        while not self._try_once():
            holder = self._holder()
            pid, host = holder.get("pid", "?"), holder.get("host", "?")
            alive = host != socket.gethostname() or (isinstance(pid, int) and _pid_alive(pid))
            if not alive and not graced:  # its dying task processes may hold it a moment longer
                deadline, graced = max(deadline, time.monotonic() + STALE_GRACE), True
            if time.monotonic() >= deadline:
                state = "running" if alive else "holding it (a task process of a killed run?)"
                raise FolderBusyError(
                    f"The output folder {self.path.parent} is in use by another vcbench run "
                    f"(PID {pid} on host {host}, since {holder.get('started', '?')}, {state}). "
                    "Wait for it to finish, stop it, or choose another output folder (--out)."
                )
            time.sleep(self.poll)
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock."""
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        _HELD.discard(self._handle)
        os.close(self._handle)
        self._handle = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
