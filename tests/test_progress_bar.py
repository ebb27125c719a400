"""The progress bar names the task it is on and shows done/total and an ETA."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from vcbench.runner import parse_spec, run_benchmark
from vcbench.runner.grid import CALIBRATION_MODELS


def test_progress_bar_names_the_task_with_done_total_and_eta(tmp_path: Path) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100, color_system=None)
    spec = f"""
output: {tmp_path}
metrics: [pdcorr, rmse]
datasets: [{{name: demo, source: demo}}]
scenarios: [{{name: perturbation, variant: combo, options: {{context: k562}}, seeds: [0]}}]
models: [{{name: additive}}]
"""
    run_benchmark(parse_spec(spec), console=console)
    lines = [line for line in buffer.getvalue().replace("\r", "\n").split("\n") if "ETA" in line]
    assert lines, buffer.getvalue()
    n_tasks = 1 + len(CALIBRATION_MODELS)  # additive and the calibration controls
    assert any(
        "additive perturbation/combo s0" in line and f"0/{n_tasks}" in line for line in lines
    )
    assert f"{n_tasks}/{n_tasks}" in lines[-1] and "0 failed" in lines[-1]
    assert all(len(line.replace("\x1b[2K", "")) <= 100 for line in lines)
