"""``vcbench run``, ``vcbench init`` and ``vcbench version``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

import vcbench
from vcbench.cli.app import app, console, errors, friendly_errors


@app.command()
@friendly_errors
def run(
    spec: Annotated[
        Path | None, typer.Argument(help="Benchmark spec (YAML). Default: the built-in demo spec.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output directory (overrides the spec's `output`).")
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="serial, processes or dask (overrides the spec).")
    ] = None,
    jobs: Annotated[int | None, typer.Option(help="Parallel workers (overrides the spec).")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address tcp://HOST:PORT.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Re-run tasks that already finished.")] = False,
) -> None:
    """Run a benchmark spec (or the demo) and print the summary; finished tasks are reused."""
    from vcbench.report import leaderboard_tables, write_report
    from vcbench.runner import demo_spec, load_spec, run_benchmark

    chosen = load_spec(spec) if spec is not None else demo_spec()
    overrides = {
        "output": out,
        "executor": executor,
        "jobs": jobs,
        "scheduler": scheduler,
    }
    chosen = chosen.model_validate(
        {**chosen.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    )
    start = time.perf_counter()
    try:
        result = run_benchmark(chosen, force=force, console=errors)
    except KeyboardInterrupt:
        errors.print(
            "[bold yellow]Interrupted.[/] Finished tasks are kept; run the same command again to "
            "resume."
        )
        raise typer.Exit(code=130) from None
    for table in leaderboard_tables(result.results, width=console.width):
        console.print(table)
    report = write_report(result.out)
    console.print(
        f"{result.n_tasks} tasks ({result.n_reused} reused), "
        f"{time.perf_counter() - start:.1f} s. Results in {result.out}/ "
        "(results.parquet, summary.csv, records.parquet)."
    )
    console.print(f"Report: {report.html} (and {report.markdown.name})")
    failures = result.failures
    if len(failures):
        errors.print(f"[bold red]{len(failures)} task(s) failed[/] (details in records.parquet):")
        for _, row in failures.iterrows():
            errors.print(
                f"  {row['model']} on {row['dataset']} / {row['scenario']} seed {row['seed']}: "
                f"{row['error']}",
                highlight=False,
            )
        raise typer.Exit(code=1)


@app.command()
@friendly_errors
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example spec.")] = Path(
        "vcbench.yaml"
    ),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Write a commented example benchmark spec to start from."""
    from vcbench.errors import SpecError
    from vcbench.runner.spec import EXAMPLE_SPEC

    if path.exists() and not overwrite:
        raise SpecError(f"{path} exists; pass --overwrite to replace it, or choose another path.")
    path.write_text(EXAMPLE_SPEC)
    console.print(f"Wrote {path}. Edit it, then: vcbench run {path}")


@app.command()
def version() -> None:
    """Print the installed vcbench version."""
    console.print(vcbench.__version__)
