"""``vcbench report``: the HTML and Markdown report of a benchmark's results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vcbench.cli.app import app, console, friendly_errors


@app.command()
@friendly_errors
def report(
    results_dir: Annotated[
        Path, typer.Argument(help="Output directory of `vcbench run` (holds results.parquet).")
    ] = Path("results"),
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the HTML page (default RESULTS_DIR/report.html)."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="Title of the report.")] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
) -> None:
    """Write a self-contained HTML report (report.html) and report.md from a results directory."""
    from vcbench.report import write_report

    files = write_report(results_dir, out, title=title, n_boot=n_boot, seed=seed)
    console.print(f"Wrote {files.html} (open it in a browser) and {files.markdown}.")
