"""The metric registry and named profiles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vcbench.errors import MetricError
from vcbench.metrics import definitions as d

Family = Literal["correlation", "retrieval", "differential_expression", "distance"]


@dataclass(frozen=True)
class Metric:
    """A metric: ``function`` maps one context's arrays to one value per test condition."""

    name: str
    family: Family
    best: float
    needs_cells: bool
    function: Callable[[d.ContextArrays], np.ndarray]

    @property
    def higher_is_better(self) -> bool:
        """Whether larger values are better (the best value is the upper end)."""
        return self.best >= 1


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("pdcorr", "correlation", 1.0, False, d.pdcorr),
        Metric("pds", "retrieval", 1.0, False, d.pds),
        Metric("rmse", "distance", 0.0, False, d.rmse),
    )
}

PROFILES: dict[str, tuple[str, ...]] = {
    "fast": tuple(name for name, m in METRICS.items() if not m.needs_cells),
    "full": tuple(METRICS),
}


def resolve_metrics(metrics: str | list[str] | tuple[str, ...]) -> list[Metric]:
    """Metrics named by a profile name or a list of metric names."""
    if isinstance(metrics, str):
        if metrics not in PROFILES:
            raise MetricError(f"Unknown metric profile {metrics!r}; profiles: {sorted(PROFILES)}.")
        names = PROFILES[metrics]
    else:
        names = tuple(metrics)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise MetricError(f"Unknown metric(s) {unknown}; available: {sorted(METRICS)}.")
    return [METRICS[n] for n in names]
