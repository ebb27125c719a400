"""Metrics (METRICS.md): definitions, the registry and ``evaluate``."""

from vcbench.metrics.evaluate import evaluate
from vcbench.metrics.registry import METRICS, PROFILES, Metric, resolve_metrics

__all__ = ["METRICS", "PROFILES", "Metric", "evaluate", "resolve_metrics"]
