"""Cell-level metrics of one test condition: distribution distances and Wilcoxon DE-set overlaps.

Definitions (docs/metrics.md): ``energy_distance``, ``sinkhorn`` and ``mmd_rbf`` between the predicted
cells ``Y_c`` and the real cells ``X_c`` (each subsampled to at most ``max_cells`` rows with a fixed
seed); ``pca_energy_distance`` and ``pca_sinkhorn`` the same after projecting onto the context's PCs;
``de_test_precision``/``recall``/``overlap``: the DE set metrics where ``T_c`` are the genes with a
Benjamini–Hochberg q < 0.05 in a two-sided Wilcoxon rank-sum test of ``X_c`` against the context's
real controls ``C_k`` (all cells, no subsampling) and ``T̂_c`` the same for ``Y_c``. Every value is NaN
when ``X_c`` or ``Y_c`` has fewer than 2 cells; a set metric is NaN when its denominator set is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from vcbench import defaults
from vcbench.distances import subsample_rows
from vcbench.metrics.distributions import Gram, SamplePair
from vcbench.metrics.wilcoxon import ControlRanks, benjamini_hochberg

FDR = 0.05
DISTRIBUTION_METRICS = ("energy_distance", "sinkhorn", "mmd_rbf")
PCA_DISTRIBUTION_METRICS = ("pca_energy_distance", "pca_sinkhorn")
DE_TEST_METRICS = ("de_test_precision", "de_test_recall", "de_test_overlap")
CELL_METRICS = DISTRIBUTION_METRICS + PCA_DISTRIBUTION_METRICS + DE_TEST_METRICS


def significant_genes(controls: ControlRanks, cells: np.ndarray, fdr: float = FDR) -> np.ndarray:
    """Genes whose Wilcoxon test of ``cells`` against the controls has BH q < ``fdr``."""
    _, p = controls.u_statistic_and_pvalue(cells)
    return benjamini_hochberg(p)[0] < fdr


def de_set_metrics(predicted: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """Precision |T̂ ∩ T|/|T̂|, recall |T̂ ∩ T|/|T| and Jaccard |T̂ ∩ T| / |T̂ union T| of two gene masks."""
    both = float((predicted & observed).sum())
    n_pred, n_true = float(predicted.sum()), float(observed.sum())
    union = n_pred + n_true - both
    return {
        "de_test_precision": both / n_pred if n_pred else np.nan,
        "de_test_recall": both / n_true if n_true else np.nan,
        "de_test_overlap": both / union if union else np.nan,
    }


def cell_metric_values(
    predicted: np.ndarray,
    observed: np.ndarray,
    wanted: set[str],
    *,
    controls: ControlRanks | None = None,
    components: np.ndarray | None = None,
    max_cells: int | None = 500,
    seed: int = 0,
    truth_memo: Callable[[str, Callable[[], Any]], Any] | None = None,
    gram: Gram = defaults.GRAM,
) -> dict[str, float]:
    """The wanted cell-level metrics of one condition (``predicted`` = Y_c, ``observed`` = X_c).

    ``truth_memo(name, compute)`` may return a value of ``observed`` alone (its DE set, its
    within-sample terms) computed before for the same condition and parameters. ``gram``: the
    precision of the gene-space distances' products (``SamplePair``); the PC-space products
    (50 columns) are always float64.
    """
    memo = truth_memo or (lambda name, compute: compute())
    out: dict[str, float] = {}
    enough = predicted.shape[0] >= 2 and observed.shape[0] >= 2
    if not enough:
        return dict.fromkeys(wanted & set(CELL_METRICS), np.nan)
    if wanted & set(DE_TEST_METRICS):
        if controls is None:
            raise ValueError("the context's ControlRanks are needed for the de_test_* metrics")
        observed_set = memo("de_set", lambda: significant_genes(controls, observed))
        sets = de_set_metrics(significant_genes(controls, predicted), observed_set)
        out.update({name: value for name, value in sets.items() if name in wanted})
    y = subsample_rows(predicted, max_cells, seed)
    x = subsample_rows(observed, max_cells, seed)
    if wanted & set(DISTRIBUTION_METRICS):
        pair = SamplePair(
            y, x, truth_memo=lambda name, compute: memo(f"genes_{name}", compute), gram=gram
        )
        methods = {
            "energy_distance": pair.energy_distance,
            "sinkhorn": pair.sinkhorn,
            "mmd_rbf": pair.mmd_rbf,
        }
        out.update({name: method() for name, method in methods.items() if name in wanted})
        del pair, methods  # its three distance matrices go before the PC-space pair's come
    if wanted & set(PCA_DISTRIBUTION_METRICS):
        if components is None:
            raise ValueError("the context's PCA components are needed for the pca_* metrics")
        pc_pair = SamplePair(
            y @ components,
            x @ components,
            truth_memo=lambda name, compute: memo(f"pcs_{name}", compute),
        )
        if "pca_energy_distance" in wanted:
            out["pca_energy_distance"] = pc_pair.energy_distance()
        if "pca_sinkhorn" in wanted:
            out["pca_sinkhorn"] = pc_pair.sinkhorn()
    return out
