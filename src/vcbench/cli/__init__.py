"""The ``vcbench`` command line: a thin face over the Python API, with no logic of its own.

Each module of this package (other than ``app``) defines commands on the shared ``app``; importing
the package imports them all, so a new command is a new module here.
"""

import importlib
import pkgutil

from vcbench.cli.app import app, console, friendly_errors

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in {"app", "__main__"}:
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["app", "console", "friendly_errors"]
