"""``vcbench run``, ``vcbench init`` and ``vcbench version``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

import vcbench
from vcbench.cli.app import app, console, errors, friendly_errors


def _read_spec(spec: Path | None) -> tuple[Any, str, str | None]:
    """The spec (or the demo), its name in messages and its YAML text (for line numbers)."""
    from vcbench.runner import demo_spec, load_spec
    from vcbench.runner.demo import DEMO_SPEC

    if spec is None:
        return demo_spec(), "the built-in demo spec", DEMO_SPEC
    chosen = load_spec(spec)
    return chosen, str(spec), spec.read_text()


def _plan_table(tasks: Any) -> Any:
    from rich.table import Table

    table = Table(title="Task grid (dry run: nothing was run)")
    for column in ("dataset", "scenario", "variant", "seed", "model", "split", "status"):
        table.add_column(column, justify="right" if column == "seed" else "left")
    for row in tasks.itertuples(index=False):
        table.add_row(
            *(str(v) for v in (row.dataset, row.scenario, row.variant, row.seed, row.model)),
            row.split,
            row.status,
        )
    return table


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
    models: Annotated[
        list[str] | None,
        typer.Option(help="Run only these models (names or labels; comma-separated or repeated)."),
    ] = None,
    scenarios: Annotated[
        list[str] | None,
        typer.Option(help="Run only these scenarios (NAME or NAME/VARIANT; comma-separated)."),
    ] = None,
    datasets: Annotated[
        list[str] | None,
        typer.Option(help="Run only these datasets of the spec (comma-separated)."),
    ] = None,
    seeds: Annotated[
        list[str] | None,
        typer.Option(help="Seeds of every scenario, e.g. 0,1 (replaces the spec's)."),
    ] = None,
    metrics: Annotated[
        str | None,
        typer.Option(help="Metric profile or comma-separated metric names (overrides the spec)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY=VALUE into the spec, dotted keys (e.g. jobs=4, "
            "models.linear.params.ridge=0.5); repeatable.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Validate, print the task grid and the reused tasks, and exit.")
    ] = False,
    force: Annotated[bool, typer.Option(help="Re-run tasks that already finished.")] = False,
) -> None:
    """Run a benchmark spec (or the demo) and print the summary; finished tasks are reused.

    The whole spec is checked before anything runs; every problem is listed at once. Overrides are
    recorded in RESULTS/run.json.
    """
    from vcbench.cli.options import metrics as parse_metrics
    from vcbench.cli.options import split_list
    from vcbench.errors import SpecError
    from vcbench.runner.overrides import apply_overrides
    from vcbench.runner.validate import validate_spec

    chosen, source, text = _read_spec(spec)
    try:
        seed_values = [int(s) for s in split_list(seeds)]
    except ValueError:
        raise SpecError(
            f"--seeds {','.join(seeds or [])}: seeds are integers, e.g. --seeds 0,1."
        ) from None
    options = {
        "output": out,
        "executor": executor,
        "jobs": jobs,
        "scheduler": scheduler,
        "metrics": parse_metrics(metrics) if metrics is not None else None,
    }
    chosen, overrides = apply_overrides(
        chosen,
        models=split_list(models),
        scenarios=split_list(scenarios),
        datasets=split_list(datasets),
        seeds=seed_values,
        assignments=set_ or [],
        options=options,
    )
    # line numbers only while the entries are those of the file
    validate_spec(chosen, source, text if not overrides else None)
    if dry_run:
        from vcbench.runner.plan import plan

        tasks = plan(chosen, force=force)
        console.print(_plan_table(tasks))
        n_reused = int((tasks["status"] == "reused").sum())
        splits = tasks.drop_duplicates(["dataset", "scenario", "variant", "seed"])
        console.print(
            f"{len(tasks)} tasks: {n_reused} reused, {len(tasks) - n_reused} to run; "
            f"{len(splits)} splits, {int((splits['split'] == 'to make').sum())} to make. "
            f"Output: {chosen.output}/",
            highlight=False,
        )
        return
    run_and_report(chosen, force=force, metadata={"source": source, "overrides": overrides})


def run_and_report(chosen: Any, *, force: bool, metadata: dict[str, Any]) -> None:
    """Run the spec, print its summary tables and where the results are; exit 1 on failures."""
    from vcbench.report import leaderboard_tables, write_report
    from vcbench.report.collapse import collapse_warnings
    from vcbench.runner import run_benchmark
    from vcbench.runner.failures import failure_text, not_applicable_text

    start = time.perf_counter()
    try:
        result = run_benchmark(chosen, force=force, console=errors, metadata=metadata)
    except KeyboardInterrupt:
        errors.print(
            "[bold yellow]Interrupted.[/] Finished tasks are kept; run the same command again to "
            "resume.",
            markup=True,
        )
        raise typer.Exit(code=130) from None
    failures = failure_text(result.failure_table, result.n_tasks)
    if failures:  # first, so that it is printed whatever happens after
        errors.print(failures, style="bold red", highlight=False, markup=False)
    skipped = not_applicable_text(result.not_applicable_table)
    if skipped:
        errors.print(skipped, style="yellow", highlight=False, markup=False)
    for table in leaderboard_tables(result.results, width=console.width):
        console.print(table)
    for line in collapse_warnings(result.records):
        console.print(line, style="bold yellow", highlight=False)
    report = write_report(result.out)
    console.print(
        f"{result.n_tasks} tasks ({result.n_reused} reused), "
        f"{time.perf_counter() - start:.1f} s. Results in {result.out}/ "
        "(results.parquet, summary.csv, leaderboard.csv, findings.csv, records.parquet, "
        "run.json).",
        highlight=False,
    )
    console.print(f"Report: {report.html} (and {report.markdown.name})", highlight=False)
    if failures:
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
    from vcbench.files import write_text_atomic
    from vcbench.runner.spec import EXAMPLE_SPEC

    if path.exists() and not overwrite:
        raise SpecError(f"{path} exists; pass --overwrite to replace it, or choose another path.")
    write_text_atomic(EXAMPLE_SPEC, path)
    console.print(f"Wrote {path}. Edit it, then: vcbench run {path}")


@app.command()
def version() -> None:
    """Print the installed vcbench version."""
    console.print(vcbench.__version__)
