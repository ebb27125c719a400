"""``vcbench run`` and ``vcbench version``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

import vcbench
from vcbench.cli.app import app, console, friendly_errors


@app.command()
@friendly_errors
def run(
    out: Annotated[Path, typer.Option(help="Directory for results.parquet and summary.*")] = Path(
        "results"
    ),
    seed: Annotated[int, typer.Option(help="Random seed of the split.")] = 0,
    force: Annotated[
        bool, typer.Option(help="Recompute models whose results already exist.")
    ] = False,
) -> None:
    """Run the default benchmark on the bundled demo data and print the summary."""
    from vcbench.report import summary_table
    from vcbench.runner import run_demo

    start = time.perf_counter()
    result = run_demo(out, seed=seed, force=force)
    console.print(
        summary_table(
            result.summary, title="Demo: unseen single and combination perturbations (K562)"
        )
    )
    if result.reused:
        console.print(
            f"Reused finished results of: {', '.join(result.reused)} (use --force to recompute)."
        )
    console.print(
        f"Results: {result.results_path}  Summary: {result.summary_path}  "
        f"({time.perf_counter() - start:.1f} s)"
    )


@app.command()
def version() -> None:
    """Print the installed vcbench version."""
    console.print(vcbench.__version__)
