"""Silence third-party packages inside a block: their loggers' info messages and their warnings."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_packages(loggers: tuple[str, ...]) -> Iterator[None]:
    """Raise the ``loggers`` to WARNING and ignore warnings in the block; restore the levels after."""
    levels = {name: logging.getLogger(name).level for name in loggers}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for name in loggers:
                logging.getLogger(name).setLevel(logging.WARNING)
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
