"""The metric registry and named profiles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vcbench.errors import MetricError
from vcbench.metrics import definitions as d
from vcbench.metrics.cells import (
    DE_TEST_METRICS,
    DISTRIBUTION_METRICS,
    PCA_DISTRIBUTION_METRICS,
)

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


_C, _R, _D, _X = "correlation", "retrieval", "differential_expression", "distance"

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        # correlation
        Metric("pcc", _C, 1.0, False, d.pcc),
        Metric("pdcorr", _C, 1.0, False, d.pdcorr),
        Metric("pdcorr_de", _C, 1.0, False, d.pdcorr_de),
        Metric("pdcorr_systema", _C, 1.0, False, d.pdcorr_systema),
        Metric("lfc_spearman", _C, 1.0, False, d.lfc_spearman),
        Metric("lfc_cosine", _C, 1.0, False, d.lfc_cosine),
        Metric("pca_delta_spearman", _C, 1.0, False, d.pca_delta_spearman),
        # retrieval
        Metric("rank_pdcorr", _R, 0.0, False, d.rank_pdcorr),
        Metric("rank_lfc_cosine", _R, 0.0, False, d.rank_lfc_cosine),
        Metric("pds", _R, 1.0, False, d.pds),
        Metric("centroid_accuracy", _R, 1.0, False, d.centroid_accuracy),
        # differential expression
        Metric("de_precision", _D, 1.0, False, d.de_precision),
        Metric("de_recall", _D, 1.0, False, d.de_recall),
        Metric("de_overlap", _D, 1.0, False, d.de_overlap),
        Metric("de_sign_error", _D, 0.0, False, d.de_sign_error),
        Metric("de_sign_acc_up", _D, 1.0, False, d.de_sign_acc_up),
        Metric("de_sign_acc_down", _D, 1.0, False, d.de_sign_acc_down),
        Metric("mse_de", _D, 0.0, False, d.mse_de),
        *(Metric(name, _D, 1.0, True, d.cell_level(name)) for name in DE_TEST_METRICS),
        # distance
        Metric("rmse", _X, 0.0, False, d.rmse),
        Metric("mse", _X, 0.0, False, d.mse),
        Metric("mae", _X, 0.0, False, d.mae),
        *(
            Metric(name, _X, 0.0, True, d.cell_level(name))
            for name in DISTRIBUTION_METRICS + PCA_DISTRIBUTION_METRICS
        ),
    )
}

# The seed paper's 13 metrics (PCC, PDCorr, PDRCorr, LFCSpear, PCA-LFCSpear, LogFC, RLogFC, DEPrec,
# DERec, DEOverlap, RMSE, Sinkhorn divergence, energy distance).
PAPER: tuple[str, ...] = (
    "pcc",
    "pdcorr",
    "rank_pdcorr",
    "lfc_spearman",
    "pca_delta_spearman",
    "lfc_cosine",
    "rank_lfc_cosine",
    "de_precision",
    "de_recall",
    "de_overlap",
    "rmse",
    "sinkhorn",
    "energy_distance",
)

PROFILES: dict[str, tuple[str, ...]] = {
    "paper": PAPER,
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
