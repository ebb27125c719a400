"""Quiet, seeded runs of scvi-tools-based packages (the biolord and scGen adapters)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import scvi
import torch

from vcbench.models.adapters.quiet import quiet_packages

LIGHTNING_LOGGERS = ("scvi", "lightning", "lightning.pytorch", "lightning.fabric")


@contextmanager
def quiet_and_seeded(seed: int, loggers: tuple[str, ...]) -> Iterator[None]:
    """Seed torch, numpy and scvi (and through it JAX) for the block; restore every global random
    state, the seed's environment variables and the ``loggers``' levels afterwards; silence info
    messages and warnings."""
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    env = {key: os.environ.get(key) for key in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS", "XLA_FLAGS")}
    scvi_seed = scvi.settings.seed
    try:
        with torch.random.fork_rng(devices=[]), quiet_packages(loggers):
            scvi.settings.seed = seed  # lightning's seed_everything: torch, numpy, random
            yield
    finally:
        scvi.settings._seed = scvi_seed  # the attribute only: the setter would reseed
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
