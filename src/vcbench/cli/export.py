"""``vcbench export``: a benchmark's splits as files, for models that run outside vcbench; or
scores under cell-eval's names."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from vcbench.cli.app import app, console, friendly_errors


def _export_cell_eval(source: Path | None, out: Path | None) -> None:
    import pandas as pd

    from vcbench.errors import MetricError
    from vcbench.metrics.cell_eval import to_cell_eval
    from vcbench.runner.store import write_table_atomic

    folder = source or Path("results")
    found = [folder / name for name in ("results.parquet", "scores.parquet")]
    table = next((path for path in found if path.is_file()), None)
    if table is None:
        raise MetricError(
            f"{folder} holds no results.parquet (of `vcbench run`) or scores.parquet (of "
            "`vcbench evaluate`); pass that folder as the argument of --format cell-eval."
        )
    per_perturbation, aggregate = to_cell_eval(pd.read_parquet(table))
    target = out or folder / "cell_eval"
    written = [
        write_table_atomic(per_perturbation, target / "results.csv"),
        write_table_atomic(aggregate, target / "agg_results.csv"),
    ]
    console.print(
        f"Wrote {', '.join(map(str, written))} (cell-eval's names: pearson_delta, mse, mae, "
        "discrimination_score_l1).",
        highlight=False,
    )


@app.command()
@friendly_errors
def export(
    source: Annotated[
        Path | None,
        typer.Argument(
            help="splits: a benchmark spec (YAML; default the demo spec). cell-eval: a results "
            "folder of `vcbench run` or `vcbench evaluate` (default results).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Export directory (default: the spec's output/export, or SOURCE/cell_eval)."
        ),
    ] = None,
    format_: Annotated[
        Literal["splits", "cell-eval"],
        typer.Option("--format", help="What to export: the splits, or scores as cell-eval's."),
    ] = "splits",
) -> None:
    """Export the splits for models run elsewhere, or scores under cell-eval's names.

    --format splits (default): each split's training cells, queries and conditions as h5ad/CSV
    files, with a README of the format and of the prediction files to write back (spec entry
    `predictions:`). --format cell-eval: the metrics shared with cell-eval under its names
    (results.csv, agg_results.csv; pds normalised by P as its discrimination_score_l1).
    """
    if format_ == "cell-eval":
        _export_cell_eval(source, out)
        return
    from vcbench.runner import demo_spec, load_spec
    from vcbench.runner.export import export_splits
    from vcbench.runner.validate import validate_spec

    chosen = load_spec(source) if source is not None else demo_spec()
    validate_spec(chosen, str(source or "the built-in demo spec"))
    folders = export_splits(chosen, out)
    root = folders[0].parents[2] if folders else out
    console.print(f"Exported {len(folders)} split(s) to {root}/ (format: {root}/README.md).")
