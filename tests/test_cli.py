"""The command line: the default run, its output and its error handling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer
from typer.testing import CliRunner

import vcbench
from vcbench.cli import app, friendly_errors
from vcbench.errors import DataContractError

runner = CliRunner()


def test_run_prints_the_summary_and_writes_results(tmp_path) -> None:
    spec = tmp_path / "spec.yaml"
    assert runner.invoke(app, ["init", str(spec)]).exit_code == 0
    text = spec.read_text().replace("metrics: full", "metrics: [rmse, pdcorr, pds]")
    spec.write_text(text.replace("seeds: [0, 1, 2]", "seeds: [0]"))
    result = runner.invoke(app, ["run", str(spec), "--out", str(tmp_path / "res")])
    assert result.exit_code == 0, result.output
    for text in (
        "no_change",
        "perturbed_mean",
        "technical_replicate",
        "pdcorr",
        "pds",
        "rmse",
        "combo_unseen2",
        "single_unseen",
    ):
        assert text in result.output
    assert (tmp_path / "res" / "results.parquet").exists()
    second = runner.invoke(app, ["run", str(spec), "--out", str(tmp_path / "res")])
    assert "4 tasks (4 reused)" in second.output
    again = runner.invoke(app, ["init", str(spec)])
    assert again.exit_code == 2 and "exists; pass --overwrite" in again.output


def test_a_vcbench_error_is_a_message_and_exit_code_2() -> None:
    @friendly_errors
    def failing() -> None:
        raise DataContractError("No control cells: pass control=")

    wrapped = typer.Typer()
    wrapped.command()(failing)
    result = runner.invoke(wrapped, [])
    assert result.exit_code == 2
    assert "Error: No control cells: pass control=" in result.output
    assert "Traceback" not in result.output


def test_console_script_is_installed() -> None:
    # the `vcbench` entry point installed next to this interpreter, not `python -m`
    script = Path(sys.executable).parent / "vcbench"
    assert script.is_file(), f"no console script at {script}: pip install -e ."
    done = subprocess.run([str(script), "version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == vcbench.__version__
