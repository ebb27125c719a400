"""The Typer application and what every command shares: consoles and friendly error handling.

Nothing heavy is imported here or at the top of any command module: a command imports what it runs
inside its body, so ``vcbench --help`` and ``vcbench --version`` stay fast.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from vcbench.errors import VcbenchError

app = typer.Typer(
    help="Benchmark virtual cell models in the wild.", no_args_is_help=True, add_completion=False
)
# Logs and pipes get a wide console so that result tables do not wrap. Markup is off: every message
# and table cell prints literally (``vcbench[torch]`` keeps its brackets); styled text passes
# ``markup=True`` and escapes what it interpolates.
console = Console(width=None if sys.stdout.isatty() else 160, markup=False)
errors = Console(stderr=True, width=None if sys.stderr.isatty() else 160, markup=False)


def _print_version(value: bool) -> None:
    if value:
        from vcbench import __version__

        console.print(__version__, markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Benchmark virtual cell models in the wild."""


def as_flags(message: str, parameters: list[str]) -> str:
    """A Python-side message with the command's parameter names written as its CLI flags.

    ``perturbation_key=`` becomes ``--perturbation-key`` (``datasets=['x']`` becomes
    ``--datasets ['x']``); names with an underscore are also rewritten where they stand alone or in
    backticks (a plain word such as "control" is left as it is). A trailing underscore of a
    parameter (``set_``) is dropped, as Typer does for its flag.
    """
    names = {p.rstrip("_") for p in parameters}
    for name in sorted(names, key=len, reverse=True):
        flag = "--" + name.replace("_", "-")
        message = re.sub(rf"(?<![\w.-]){name}=(?=\s|$|[.,;:)])", flag, message)
        message = re.sub(rf"(?<![\w.-]){name}=", flag + " ", message)
        if "_" in name:
            message = re.sub(rf"`{name}`|(?<![\w.-]){name}\b(?!['\"\]])", flag, message)
    return message


def print_error(message: str) -> None:
    """Print an error message to stderr, its text taken literally (no rich markup)."""
    errors.print(
        f"[bold red]Error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True
    )


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print a vcbench error's message (which names the fix) and exit with code 2, no traceback.

    The message is printed literally (square brackets such as ``vcbench[torch]`` survive) and names
    the command's flags where the library named its Python parameters.
    """
    parameters = list(inspect.signature(command).parameters)

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except VcbenchError as exc:
            print_error(as_flags(str(exc), parameters))
            raise typer.Exit(code=2) from None

    return wrapper
