"""Module-level job functions for the executor tests (child processes import them by name)."""

from __future__ import annotations

import os
import time

import numpy as np


def square(x: int) -> int:
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


def sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


def die() -> None:
    os._exit(3)


def allocate(mib: int) -> int:
    block = np.ones(mib * 1024 * 1024 // 8)
    return int(block.size)
