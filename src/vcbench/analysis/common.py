"""Shared vocabulary of the analysis functions: table keys, the controls, metric directions and
input checks."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from vcbench.errors import VcbenchError

TASK = ["dataset", "scenario", "variant"]
RESULT_COLUMNS = [*TASK, "seed", "model", "context", "perturbation", "split_category", "metric"]
CONDITION = ["seed", "context", "perturbation", "split_category"]
DOSE = "dose"  # a condition's dose, in results of data with doses ("" where a task has none)
NEGATIVE = "perturbed_mean"
POSITIVE = "technical_replicate"
# The numpy baselines of vcbench.models: a "simple baseline" in the model-selection guide.
SIMPLE_BASELINES = (
    "no_change",
    "perturbed_mean",
    "perturbation_mean",
    "additive",
    "linear",
    "random_perturbation",
)
# The calibration controls: references (ceiling and floors), never ranked nor recommended.
CONTROLS = (POSITIVE, NEGATIVE)
# Names of #15's collapse control (every predicted cell = the true condition mean).
COLLAPSE_PREFIX = "collapse"
# Names that suggest "lower is better" for metrics the registry does not know (yet).
_LOWER_HINTS = ("error", "mse", "mae", "distance", "sinkhorn", "mmd", "rank_", "loss")


class AnalysisError(VcbenchError, ValueError):
    """A result table cannot be analysed as asked (missing columns, models or controls)."""


class NotAvailable(AnalysisError):
    """The benchmark lacks the data an analysis needs; the message says why."""


def require_columns(table: pd.DataFrame, columns: Iterable[str], what: str = "results") -> None:
    """Raise :class:`AnalysisError` naming the columns of ``columns`` that ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing and table.empty:
        raise NotAvailable(
            f"The {what} table is empty: no task finished (every task failed, or none ran). "
            "The failure table of `vcbench run` and records.parquet say why."
        )
    if missing:
        raise AnalysisError(
            f"The {what} table lacks column(s) {missing}; it has {list(table.columns)}. "
            f"Pass the tidy results.parquet that `vcbench run` writes."
        )


def condition_keys(results: pd.DataFrame) -> list[str]:
    """The columns naming one scored condition: :data:`CONDITION`, with ``dose`` after
    ``perturbation`` where the results have doses (a dose is part of the condition)."""
    return [*CONDITION[:3], DOSE, CONDITION[3]] if DOSE in results.columns else list(CONDITION)


def condition_labels(results: pd.DataFrame) -> list[str]:
    """``context``, ``perturbation`` and, where the results have doses, ``dose``."""
    return ["context", "perturbation", *([DOSE] if DOSE in results.columns else [])]


def higher_is_better(metric: str) -> bool:
    """Whether larger values of ``metric`` are better: from the metric registry, or for a metric it
    does not know, ``False`` when the name suggests an error or distance, else ``True``."""
    from vcbench.metrics.registry import METRICS

    if metric in METRICS:
        return bool(METRICS[metric].best >= 1)
    return not any(hint in metric for hint in _LOWER_HINTS)


def family(metric: str) -> str:
    """The metric's family from the registry (``"other"`` for a metric it does not know)."""
    from vcbench.metrics.registry import METRICS

    return str(METRICS[metric].family) if metric in METRICS else "other"


def orientation(metrics: pd.Series) -> np.ndarray:
    """+1 where higher values of the row's metric are better, −1 where lower are better."""
    signs = {m: 1.0 if higher_is_better(m) else -1.0 for m in pd.unique(metrics)}
    return metrics.map(signs).to_numpy(dtype=np.float64)


def simple_name(model: str) -> str:
    """A model's registry name from its result name (labels such as ``linear(alpha=1)``)."""
    return model.split("(")[0].strip()


def role(model: str) -> str:
    """``"control"`` for a calibration control (the technical replicate, ``perturbed_mean``, the
    collapse control), ``"baseline"`` for another simple baseline, else ``"model"``."""
    name = simple_name(model)
    if name in CONTROLS or name.startswith(COLLAPSE_PREFIX):
        return "control"
    return "baseline" if name in SIMPLE_BASELINES else "model"
