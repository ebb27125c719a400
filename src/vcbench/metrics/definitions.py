"""Metric definitions (METRICS.md), computed for all test conditions of one context at once.

Notation as in METRICS.md: ``x_c`` real mean of condition c, ``y_c`` predicted mean, ``x_0`` mean of
the context's real control cells, ``d_c = x_c − x_0``, ``e_c = y_c − x_0``, ``P`` conditions.

A vector counts as constant (so a correlation with it is NaN) when its root-mean-square deviation from
its own mean is at most ``CONSTANT_RTOL · (1 + rms(x_0))``: float32 storage of a prediction leaves
rounding noise of that order in ``y_c − x_0``, and a correlation with rounding noise is meaningless
(the ``no_change`` baseline would otherwise get a random PDCorr instead of NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

CONSTANT_RTOL = 1e-6


@dataclass(frozen=True)
class ContextArrays:
    """The means of one context's test conditions (rows aligned) and its control mean."""

    predicted: np.ndarray  # P × G, y_c
    observed: np.ndarray  # P × G, x_c
    control: np.ndarray  # G, x_0
    target_mask: np.ndarray  # P × G, True at the measured target genes of each condition

    @cached_property
    def constant_tolerance(self) -> float:
        """Deviation (rms) at or below which a vector counts as constant."""
        return CONSTANT_RTOL * (1.0 + float(np.sqrt(np.mean(self.control**2))))

    @cached_property
    def predicted_delta(self) -> np.ndarray:
        """e_c = y_c − x_0."""
        return self.predicted - self.control

    @cached_property
    def observed_delta(self) -> np.ndarray:
        """d_c = x_c − x_0."""
        return self.observed - self.control


def rowwise_pearson(a: np.ndarray, b: np.ndarray, atol: float = 0.0) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b``.

    NaN where either row is constant: its rms deviation from its mean is at most ``atol``.
    """
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    ss_a, ss_b = (a * a).sum(axis=1), (b * b).sum(axis=1)
    n = a.shape[1]
    varying = (np.sqrt(ss_a / n) > atol) & (np.sqrt(ss_b / n) > atol)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(varying, (a * b).sum(axis=1) / np.sqrt(ss_a * ss_b), np.nan)


def rmse(arrays: ContextArrays) -> np.ndarray:
    """RMSE: sqrt(mean over genes of (y_c − x_c)²)."""
    return np.sqrt(np.mean((arrays.predicted - arrays.observed) ** 2, axis=1))


def pdcorr(arrays: ContextArrays) -> np.ndarray:
    """PDCorr ("Pearson delta"): ρ(e_c, d_c) over genes."""
    return rowwise_pearson(arrays.predicted_delta, arrays.observed_delta, arrays.constant_tolerance)


def masked_l1_distances(
    predicted: np.ndarray, observed: np.ndarray, excluded: np.ndarray, chunk_bytes: float = 64e6
) -> np.ndarray:
    """``D[c, q] = Σ_g (1 − excluded[c, g]) · |predicted[c, g] − observed[q, g]|`` (P × P)."""
    n = predicted.shape[0]
    weights = (~excluded).astype(predicted.dtype)
    distances = np.empty((n, observed.shape[0]))
    step = max(1, int(chunk_bytes // (8 * max(1, observed.size))))
    for start in range(0, n, step):
        block = slice(start, start + step)
        diff = np.abs(predicted[block, None, :] - observed[None, :, :])
        distances[block] = np.einsum("cqg,cg->cq", diff, weights[block])
    return distances


def pds(arrays: ContextArrays) -> np.ndarray:
    """PDS: 1 − (#{q ≠ c : ‖e_c − d_q‖₁ < ‖e_c − d_c‖₁} + ½·#{q ≠ c : equal}) / (P − 1).

    The target gene(s) of condition c are left out of the genes of row c when they are measured.
    NaN when the context has fewer than 2 conditions. 1 = best, 0.5 = random.
    """
    n = arrays.predicted.shape[0]
    if n < 2:
        return np.full(n, np.nan)
    distances = masked_l1_distances(
        arrays.predicted_delta, arrays.observed_delta, arrays.target_mask
    )
    own = np.diag(distances)[:, None]
    others = ~np.eye(n, dtype=bool)
    closer = ((distances < own) & others).sum(axis=1)
    ties = ((distances == own) & others).sum(axis=1)
    return 1.0 - (closer + 0.5 * ties) / (n - 1)
