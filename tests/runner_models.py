"""Models for the runner tests (imported by path ``runner_models:Class`` in child processes)."""

from __future__ import annotations

import os
from pathlib import Path

from vcbench.models import PerturbedMean


class Failing(PerturbedMean):
    """Raises in fit."""

    name = "failing"

    def fit(self, train):
        raise RuntimeError("this model always fails")


class KillsItsProcessOnce(PerturbedMean):
    """Kills its own process (no report, no cleanup) the first time it runs for each marker file,
    then behaves like ``perturbed_mean``: a crash in the middle of a grid."""

    name = "kills_once"

    def __init__(self, marker_dir: str = ".", max_cells: int | None = 500, seed: int = 0) -> None:
        super().__init__(max_cells=max_cells, seed=seed)
        self.marker_dir = marker_dir

    def fit(self, train):
        marker = Path(self.marker_dir) / f"killed-{len(train)}"
        if not marker.exists():
            marker.write_text("once")
            os._exit(9)
        return super().fit(train)


class Sleeps(PerturbedMean):
    """Sleeps in fit (for time limits)."""

    name = "sleeps"

    def fit(self, train):
        import time

        time.sleep(60)
        return super().fit(train)


class Warns(PerturbedMean):
    """Warns in fit."""

    name = "warns"

    def fit(self, train):
        import warnings

        warnings.warn("careful: this model warns", UserWarning, stacklevel=2)
        return super().fit(train)


class PredictsNegatives(PerturbedMean):
    """``perturbed_mean`` shifted down by 1: a prediction with negative log-expression."""

    name = "predicts_negatives"

    def predict(self, queries):
        prediction = super().predict(queries)
        prediction.X = prediction.X - 1.0
        return prediction
