"""One writer per output folder: a lock file with PID and host; wait, refuse, or take over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from vcbench.runner import parse_spec, run_benchmark
from vcbench.runner.store import LOCK_FILE, FolderBusyError, OutputLock


def test_the_lock_names_its_holder_and_a_second_writer_is_refused(tmp_path):
    with OutputLock(tmp_path) as lock:
        holder = json.loads((tmp_path / LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(
            FolderBusyError, match=rf"in use by another vcbench run \(PID {os.getpid()} on host"
        ):
            OutputLock(tmp_path).acquire()
        assert lock.took_over is None
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_second_writer_waits_for_the_first(tmp_path):
    first = OutputLock(tmp_path).acquire()
    threading.Timer(0.5, first.release).start()
    second = OutputLock(tmp_path, wait=10, poll=0.05).acquire()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    second.release()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = {"pid": int(dead.stdout), "host": socket.gethostname(), "started": "yesterday"}
    (tmp_path / LOCK_FILE).write_text(json.dumps(stale))
    with OutputLock(tmp_path) as lock:
        assert lock.took_over == stale


def test_a_lock_held_by_another_process_refuses_a_run(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from vcbench.runner.store import OutputLock;"
            f"OutputLock({str(tmp_path)!r}).acquire(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        spec = parse_spec(
            f"output: {tmp_path}\ndatasets: [{{name: demo, source: demo}}]\n"
            "scenarios: [{name: perturbation}]\nmodels: [{name: no_change}]\n"
        )
        with pytest.raises(FolderBusyError, match=rf"PID {holder.pid} .*running\)\. Wait for it"):
            run_benchmark(spec)
        assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_FILE]  # nothing computed
    finally:
        holder.kill()
        holder.wait()
    with OutputLock(tmp_path) as lock:  # its death freed the folder
        assert lock.took_over["pid"] == holder.pid
