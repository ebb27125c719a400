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


DESCRIPTIONS: dict[str, str] = {
    "pcc": "Pearson correlation of predicted and real mean expression over genes.",
    "pdcorr": "Pearson correlation of predicted and real effects (mean minus control mean).",
    "pdcorr_de": "pdcorr on the 20 genes with the largest real effect.",
    "pdcorr_systema": "Pearson correlation of effects relative to the training perturbations' "
    "centroid (Systema); needs reference cells.",
    "lfc_spearman": "Spearman correlation of predicted and real log fold changes.",
    "lfc_cosine": "Cosine similarity of predicted and real log fold changes.",
    "pca_delta_spearman": "Spearman correlation of effects projected on 50 PCs of the real cells.",
    "rank_pdcorr": "Fraction of other conditions whose prediction correlates better with the real "
    "effect (0 best).",
    "rank_lfc_cosine": "rank_pdcorr with the cosine of log fold changes (0 best).",
    "pds": "Perturbation discrimination score: 1 minus the fraction of other real effects closer "
    "(L1) to the predicted effect.",
    "centroid_accuracy": "Fraction of other real means farther (L2) from the prediction than its own.",
    "de_precision": "Overlap of the top-k predicted and real effect genes, over k predicted.",
    "de_recall": "Overlap of the top-k predicted and real effect genes, over k real.",
    "de_overlap": "Jaccard index of the top-k predicted and real effect genes.",
    "de_sign_error": "Fraction of the real top-k genes whose predicted effect has the wrong sign.",
    "de_sign_acc_up": "Fraction of the real up-regulated top-k genes predicted up.",
    "de_sign_acc_down": "Fraction of the real down-regulated top-k genes predicted down.",
    "mse_de": "Mean squared error of the mean on the 20 genes with the largest real effect.",
    "de_test_precision": "Precision of the Wilcoxon-test DE genes (BH q < 0.05) of the prediction.",
    "de_test_recall": "Recall of the real Wilcoxon-test DE genes (BH q < 0.05).",
    "de_test_overlap": "Jaccard index of predicted and real Wilcoxon-test DE gene sets.",
    "rmse": "Root mean squared error of the mean expression.",
    "mse": "Mean squared error of the mean expression.",
    "mae": "Mean absolute error of the mean expression.",
    "energy_distance": "Energy distance between predicted and real cells.",
    "sinkhorn": "Sinkhorn divergence between predicted and real cells (epsilon 0.05^2).",
    "mmd_rbf": "Unbiased squared MMD with an RBF kernel (median-distance bandwidth).",
    "pca_energy_distance": "Energy distance in the 50-PC space of the real cells.",
    "pca_sinkhorn": "Sinkhorn divergence in the 50-PC space of the real cells.",
}


def list_metrics() -> list[dict[str, object]]:
    """Every metric: name, family, one-line description, best value, whether it needs cells, and
    the profiles it is in (all metrics are in the core install: no extra)."""
    return [
        {
            "name": m.name,
            "family": m.family,
            "description": DESCRIPTIONS.get(m.name, ""),
            "best": m.best,
            "needs_cells": m.needs_cells,
            "profiles": [p for p, names in PROFILES.items() if m.name in names],
            "extra": None,
            "installed": True,
        }
        for m in METRICS.values()
    ]


def metric_problems(metrics: str | list[str] | tuple[str, ...]) -> list[str]:
    """Every unknown profile or metric name in ``metrics``, each with a did-you-mean."""
    from vcbench.suggest import did_you_mean

    if isinstance(metrics, str):
        if metrics in PROFILES or metrics in METRICS:
            return []
        return [
            f"unknown metric profile or metric {metrics!r}"
            f"{did_you_mean(metrics, [*PROFILES, *METRICS])}; profiles: {sorted(PROFILES)}"
        ]
    return [
        f"unknown metric {name!r}{did_you_mean(name, METRICS)}"
        for name in metrics
        if name not in METRICS
    ]


def resolve_metrics(metrics: str | list[str] | tuple[str, ...]) -> list[Metric]:
    """Metrics named by a profile name, one metric name, or a list of metric names."""
    problems = metric_problems(metrics)
    if problems and not isinstance(metrics, str):
        unknown = [n for n in metrics if n not in METRICS]
        raise MetricError(
            f"Unknown metric(s) {unknown}: {'; '.join(problems)}. Available: {sorted(METRICS)} "
            "(see `vcbench metrics`)."
        )
    if problems:
        raise MetricError(f"{problems[0][0].upper()}{problems[0][1:]} (see `vcbench metrics`).")
    names = PROFILES.get(metrics, (metrics,)) if isinstance(metrics, str) else tuple(metrics)
    return [METRICS[n] for n in names]
