"""The Typer application and what every command shares: consoles and friendly error handling."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from vcbench.errors import VcbenchError

app = typer.Typer(
    help="Benchmark virtual cell models in the wild.", no_args_is_help=True, add_completion=False
)
# Logs and pipes get a wide console so that result tables do not wrap.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


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
