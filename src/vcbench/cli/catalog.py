"""``vcbench models``, ``vcbench metrics`` and ``vcbench scenarios``: what can be run, with what."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from vcbench.cli.app import app, console, friendly_errors

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (one object per row).")]


def _show(rows: list[dict[str, Any]], columns: list[str], title: str, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(rows))
        return
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        cells = []
        for column in columns:
            value = row[column]
            if isinstance(value, bool):
                value = "yes" if value else "no"
            elif isinstance(value, list):
                value = ", ".join(map(str, value))
            cells.append("" if value is None else str(value))
        table.add_row(*cells)
    console.print(table)


@app.command()
@friendly_errors
def models(as_json: JsonOption = False) -> None:
    """List the models: family, description, extra needed, installed, cell-embedding input."""
    from dataclasses import asdict

    from vcbench.models.registry import list_models

    rows = [asdict(row) for row in list_models()]
    columns = ["name", "family", "description", "extra", "installed", "cell_embedding"]
    _show(rows, columns, "Models (spec `models: - name: NAME`)", as_json)


@app.command()
@friendly_errors
def metrics(as_json: JsonOption = False) -> None:
    """List the metrics: family, description, best value, cells needed, profiles."""
    from vcbench.metrics.registry import list_metrics

    columns = ["name", "family", "description", "best", "needs_cells", "profiles"]
    _show(list_metrics(), columns, "Metrics (spec `metrics:`, CLI `--metrics`)", as_json)


@app.command()
@friendly_errors
def scenarios(as_json: JsonOption = False) -> None:
    """List the scenarios and variants: description, default, options."""
    from vcbench.scenarios.registry import list_scenarios

    columns = ["name", "variant", "default", "description", "options"]
    _show(list_scenarios(), columns, "Scenarios (spec `scenarios: - name, variant`)", as_json)
