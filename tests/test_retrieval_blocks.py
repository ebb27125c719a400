"""Retrieval metrics computed in row blocks equal the whole-matrix computation."""

from __future__ import annotations

import numpy as np
import pytest

import vcbench.metrics.definitions as d


def _whole_pds(arrays: d.ContextArrays) -> np.ndarray:
    n = arrays.n_conditions
    diff = np.abs(arrays.predicted_delta[:, None, :] - arrays.observed_delta[None, :, :])
    distances = (diff * (~arrays.target_mask)[:, None, :]).sum(axis=2)
    own = np.diag(distances)[:, None]
    others = ~np.eye(n, dtype=bool)
    closer = ((distances < own) & others).sum(axis=1)
    ties = ((distances == own) & others).sum(axis=1)
    return 1.0 - (closer + 0.5 * ties) / (n - 1)


def _whole_rank(similarity: np.ndarray) -> np.ndarray:
    p = similarity.shape[0]
    own = np.diag(similarity)
    others = ~np.eye(p, dtype=bool)
    diff = similarity - own[None, :]
    with np.errstate(invalid="ignore"):
        better = (diff > d.RANK_TIE_ATOL) & others
        tied = ((np.abs(diff) <= d.RANK_TIE_ATOL) | np.isnan(similarity)) & others
    out = (better.sum(axis=0) + 0.5 * tied.sum(axis=0)) / (p - 1)
    out[np.isnan(own)] = np.nan
    return out


def _whole_centroid(arrays: d.ContextArrays) -> np.ndarray:
    p = arrays.n_conditions
    distances = ((arrays.predicted[:, None, :] - arrays.observed[None, :, :]) ** 2).sum(axis=2)
    own = np.diag(distances)[:, None]
    return ((distances > own) & ~np.eye(p, dtype=bool)).sum(axis=1) / (p - 1)


@pytest.fixture
def arrays() -> d.ContextArrays:
    rng = np.random.default_rng(0)
    p, g = 57, 9
    observed = rng.normal(1.0, 0.5, (p, g))
    predicted = observed + rng.normal(0, 0.4, (p, g))
    predicted[5] = predicted[6]  # ties between predictions
    predicted[7] = 1.0  # a constant row: undefined correlations
    mask = np.zeros((p, g), dtype=bool)
    mask[np.arange(p), np.arange(p) % g] = True
    return d.ContextArrays(predicted, observed, np.full(g, 1.0), mask)


@pytest.mark.parametrize("block_bytes", [8 * 57 * 5, 8 * 57 * 13, 1e9])
def test_blocked_retrieval_equals_the_whole_matrix(
    arrays: d.ContextArrays, block_bytes: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(d, "RETRIEVAL_BLOCK_BYTES", block_bytes)
    tol = arrays.constant_tolerance
    e = d._unit_rows(arrays.predicted_delta, tol, centre=True)
    o = d._unit_rows(arrays.observed_delta, tol, centre=True)
    np.testing.assert_array_equal(d.pds(arrays), _whole_pds(arrays))
    np.testing.assert_array_equal(d.centroid_accuracy(arrays), _whole_centroid(arrays))
    np.testing.assert_allclose(d.rank_pdcorr(arrays), _whole_rank(e @ o.T), rtol=0, atol=0)
    assert np.isnan(_whole_rank(e @ o.T)).sum() == np.isnan(d.rank_pdcorr(arrays)).sum()
