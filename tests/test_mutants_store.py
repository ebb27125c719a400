"""runner/store.py pinned (the mutants that survived the runner tests): task identities, the store's
layout and reads, and the output lock's refusal, waiting and take-over. Fast, in-process."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from vcbench.files import file_mode
from vcbench.runner import store
from vcbench.runner.store import LOCK_FILE, FolderBusyError, OutputLock, ResultStore, task_id


def test_task_id_is_the_first_16_hex_digits_of_the_sorted_json_sha256() -> None:
    parts = {"b": 1, "a": [1, 2], "path": store.Path("x")}
    text = '{"a": [1, 2], "b": 1, "path": "x"}'  # keys sorted, paths as str
    assert task_id(parts) == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert task_id({"a": [1, 2], "b": 1, "path": "x"}) == task_id(parts)  # key order is irrelevant
    assert task_id({"a": [2, 1], "b": 1, "path": "x"}) != task_id(parts)


def test_the_store_layout_records_and_finished_tasks(tmp_path) -> None:
    results = ResultStore(str(tmp_path))
    assert results.split_dir("s1") == tmp_path / "splits" / "s1"
    assert results.task_dir("t1") == tmp_path / "tasks" / "t1"
    assert results.record("t1") is None and not results.is_finished("t1")
    path = results.write_record("t1", {"status": "ok", "model": {"name": "m", "seed": 1}})
    assert path == tmp_path / "tasks" / "t1" / "record.json"
    assert json.loads(path.read_text())["model"] == {"name": "m", "seed": 1}
    assert results.record("t1") == {"status": "ok", "model": {"name": "m", "seed": 1}}
    assert results.is_finished("t1")
    results.write_record("t2", {"status": "failed", "model": {"name": "n", "seed": 2}})
    assert not results.is_finished("t2")
    results.write_record("t3", {"model": {"name": "o"}})  # no status: not finished
    assert not results.is_finished("t3")

    records = results.records(["t1", "t2", "t3", "missing"])
    assert records["status"].tolist()[:2] == ["ok", "failed"] and len(records) == 3
    assert records["model.name"].tolist() == ["m", "n", "o"]  # nested keys joined by "."
    assert results.records(["missing"]).empty


def test_results_concatenate_only_the_finished_tasks(tmp_path) -> None:
    results = ResultStore(tmp_path)
    for task, status, value in [("t1", "ok", 1.0), ("t2", "failed", 2.0), ("t3", "ok", 3.0)]:
        results.task_dir(task).mkdir(parents=True)
        pd.DataFrame({"value": [value, value]}).to_parquet(
            results.task_dir(task) / "results.parquet"
        )
        results.write_record(task, {"status": status})
    table = results.results(["t1", "t2", "t3"])
    assert table["value"].tolist() == [1.0, 1.0, 3.0, 3.0]
    assert table.index.tolist() == [0, 1, 2, 3]
    assert results.results(["t2"]).empty and results.results([]).empty


def test_a_second_lock_refuses_at_once_without_wait(tmp_path) -> None:
    with OutputLock(tmp_path):
        start = time.monotonic()
        with pytest.raises(FolderBusyError) as refused:
            OutputLock(tmp_path).acquire()
        assert time.monotonic() - start < 1.0
        message = str(refused.value)
        assert f"PID {os.getpid()} on host {socket.gethostname()}" in message
        assert "running)" in message and "(--out)" in message
        assert str(tmp_path) in message
        # a wait is honoured before refusing
        start = time.monotonic()
        with pytest.raises(FolderBusyError):
            OutputLock(tmp_path, wait=0.3, poll=0.05).acquire()
        assert 0.25 < time.monotonic() - start < 2.0


def test_the_lock_file_holds_pid_host_and_start_and_release_removes_it(tmp_path) -> None:
    lock = OutputLock(tmp_path / "new")  # the folder is created
    lock.release()  # releasing a lock never taken does nothing
    assert lock.acquire() is lock
    assert (tmp_path / "new" / LOCK_FILE).stat().st_mode & 0o777 == file_mode()
    holder = json.loads((tmp_path / "new" / LOCK_FILE).read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    assert holder["started"].endswith("+00:00") and "T" in holder["started"]
    assert lock._handle in store._HELD
    handle = lock._handle
    lock.release()
    assert handle not in store._HELD and lock._handle is None
    assert not (tmp_path / "new" / LOCK_FILE).exists()
    lock.release()  # twice is harmless
    with OutputLock(tmp_path / "new") as removed:  # a lock file removed meanwhile: no error
        (tmp_path / "new" / LOCK_FILE).unlink()
    assert removed._handle is None
    with OutputLock(tmp_path / "new") as again:  # free again
        assert again.took_over is None


def test_a_lock_file_left_by_a_dead_process_is_taken_over_after_the_grace(
    tmp_path, monkeypatch
) -> None:
    dead = {"pid": 2**22 + 12345, "host": socket.gethostname(), "started": "yesterday"}
    assert not store._pid_alive(dead["pid"])
    (tmp_path / LOCK_FILE).write_text(json.dumps(dead))
    with OutputLock(tmp_path) as lock:  # no flock is held: taken at once
        assert lock.took_over == dead
    # the process's own earlier record is not a take-over
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": os.getpid()}))
    with OutputLock(tmp_path) as lock:
        assert lock.took_over is None
    # an unreadable lock file is no holder
    (tmp_path / LOCK_FILE).write_text("not json")
    with OutputLock(tmp_path) as lock:
        assert lock.took_over is None


def test_a_dead_holder_that_still_has_the_flock_is_waited_for_then_refused(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(store, "STALE_GRACE", 0.3)
    with OutputLock(tmp_path) as held:
        dead = {"pid": 2**22 + 12345, "host": socket.gethostname(), "started": "then"}
        os.pwrite(held._handle, json.dumps(dead).encode().ljust(200), 0)
        start = time.monotonic()
        with pytest.raises(
            FolderBusyError,
            match=r"since then, holding it \(a task process of a killed run\?\)\)\. Wait for",
        ):
            OutputLock(tmp_path, poll=0.05).acquire()
        assert 0.25 < time.monotonic() - start < 2.0  # the grace, not the wait of 0
        # a holder on another host is taken as alive: no grace
        other = {"pid": 1, "host": "another-host", "started": "then"}
        os.ftruncate(held._handle, 0)
        os.pwrite(held._handle, json.dumps(other).encode(), 0)
        start = time.monotonic()
        message = (
            f"The output folder {tmp_path} is in use by another vcbench run (PID 1 on host "
            "another-host, since then, running). Wait for it to finish, stop it, or choose "
            "another output folder (--out)."
        )
        with pytest.raises(FolderBusyError, match=f"^{re.escape(message)}$"):
            OutputLock(tmp_path, poll=0.05).acquire()
        assert time.monotonic() - start < 0.25
        # a lock file that names no holder: "?" for each part
        os.ftruncate(held._handle, 0)
        os.pwrite(held._handle, b"{}", 0)
        with pytest.raises(FolderBusyError, match=r"\(PID \? on host \?, since \?, running\)"):
            OutputLock(tmp_path, poll=0.05).acquire()


def test_pid_alive_only_probes_and_counts_other_users_processes_as_alive(monkeypatch) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert store._pid_alive(child.pid)
        time.sleep(0.2)
        assert child.poll() is None  # signal 0: the process is not disturbed
    finally:
        child.kill()
        child.wait()
    assert not store._pid_alive(child.pid)

    def not_yours(pid: int, signal: int) -> None:
        raise PermissionError(pid)

    monkeypatch.setattr(store.os, "kill", not_yours)
    assert store._pid_alive(12345)  # alive, owned by another user


def test_the_forked_child_closes_the_lock(tmp_path) -> None:
    lock = OutputLock(tmp_path).acquire()
    handle = lock._handle
    pid = os.fork()
    if pid == 0:  # the child: its copy of the descriptor is closed, the set emptied
        code = 0 if not store._HELD else 1
        try:
            os.fstat(handle)
            code = 2
        except OSError:
            pass
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert handle in store._HELD  # the parent keeps it
    lock.release()
