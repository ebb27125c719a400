"""``vcbench export``: a benchmark's splits as files, for models that run outside vcbench."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vcbench.cli.app import app, console, friendly_errors


@app.command()
@friendly_errors
def export(
    spec: Annotated[
        Path | None, typer.Argument(help="Benchmark spec (YAML). Default: the built-in demo spec.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Export directory (default: the spec's output/export).")
    ] = None,
) -> None:
    """Write each split's training cells, queries and conditions as h5ad/CSV files, with a README
    of the format and of the prediction files to write back (spec entry `predictions:`)."""
    from vcbench.runner import demo_spec, load_spec
    from vcbench.runner.export import export_splits

    chosen = load_spec(spec) if spec is not None else demo_spec()
    folders = export_splits(chosen, out)
    root = folders[0].parents[2] if folders else out
    console.print(f"Exported {len(folders)} split(s) to {root}/ (format: {root}/README.md).")
