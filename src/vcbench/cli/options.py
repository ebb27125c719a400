"""The options shared by every command: one name, one help text and one default each.

``--perturbation-key``, ``--context-key`` and ``--control`` mean what the spec's dataset keys
``perturbation_key``, ``context_key`` and ``control`` mean, with the same defaults
(``vcbench.defaults``). ``--control`` is repeatable and comma-separated alike. ``--metrics`` is the
spec's ``metrics``: a profile name or comma-separated metric names.
"""

from __future__ import annotations

from typing import Annotated

import typer

from vcbench import defaults

PerturbationKey = Annotated[
    str,
    typer.Option("--perturbation-key", help="obs column with each cell's perturbation label."),
]
ContextKey = Annotated[
    str,
    typer.Option(
        "--context-key",
        help="obs column with each cell's context (cell line/type); 'none': one context.",
    ),
]
Control = Annotated[
    list[str] | None,
    typer.Option(
        "--control",
        help=f"Control label; repeat the flag or separate labels with commas "
        f"[default: {defaults.CONTROL}].",
        show_default=False,
    ),
]
Metrics = Annotated[
    str,
    typer.Option(
        "--metrics", help="Metric profile (paper, fast, full) or comma-separated metric names."
    ),
]


def split_list(values: list[str] | str | None) -> list[str]:
    """Comma-separated and repeated values as one flat list (blanks dropped)."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else values
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def controls(values: list[str] | None) -> list[str]:
    """The control labels of ``--control`` (default ``control``)."""
    return split_list(values) or [defaults.CONTROL]


def context(value: str | None) -> str | None:
    """The ``--context-key`` column; ``none`` (any case) or empty means one context."""
    return None if value is None or value.strip().lower() in {"", "none", "null"} else value


def metrics(value: str) -> str | list[str]:
    """``--metrics``: a profile name as it is, else the list of metric names."""
    names = split_list(value)
    return names[0] if len(names) == 1 and "," not in value else names
