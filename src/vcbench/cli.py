"""The ``vcbench`` command line: a thin face over the Python API, with no logic of its own."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

import vcbench
from vcbench.errors import VcbenchError

app = typer.Typer(
    help="Benchmark virtual cell models in the wild.", no_args_is_help=True, add_completion=False
)
# Logs and pipes get a wide console so that result tables do not wrap.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True)


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print a vcbench error's message (which names the fix) and exit with code 2, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except VcbenchError as exc:
            errors.print(f"[bold red]Error:[/] {exc}", highlight=False)
            raise typer.Exit(code=2) from None

    return wrapper


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
        f"Results: {result.results_path}  Summary: {result.summary_path}  ({time.perf_counter() - start:.1f} s)"
    )


@app.command()
def version() -> None:
    """Print the installed vcbench version."""
    console.print(vcbench.__version__)


if __name__ == "__main__":  # pragma: no cover
    app()
