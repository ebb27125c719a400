"""Metrics (docs/metrics.md): definitions, the registry, ``evaluate`` and ``aggregate``."""

from vcbench.metrics.aggregate import aggregate, bootstrap_interval
from vcbench.metrics.evaluate import evaluate
from vcbench.metrics.registry import METRICS, PROFILES, Metric, resolve_metrics

__all__ = [
    "METRICS",
    "PROFILES",
    "Metric",
    "aggregate",
    "bootstrap_interval",
    "evaluate",
    "resolve_metrics",
]
