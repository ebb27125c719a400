"""The truth-statistics cache: computed once per truth, reused across models, same bits."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import vcbench.metrics.distributions as distributions
from vcbench.data import contract as c
from vcbench.metrics.evaluate import evaluate
from vcbench.metrics.truth_cache import TruthCache

PERTURBATIONS = ("G0", "G1", "G2+G3", "G4", "G5")


def _cells(rng, labels, contexts, genes, shift, noise) -> ad.AnnData:
    base = np.abs(rng.normal(2.0, 0.3, (len(labels), len(genes))))
    x = (
        base
        + np.array([shift.get(lab, np.zeros(len(genes))) for lab in labels])
        + rng.normal(0, noise, base.shape)
    )
    obs = pd.DataFrame({c.CONTEXT: contexts, c.PERTURBATION: labels})
    obs[c.IS_CONTROL] = obs[c.PERTURBATION] == c.CONTROL
    obs.index = [f"cell{i}" for i in range(len(obs))]
    return ad.AnnData(np.clip(x, 0, None).astype(np.float32), obs, pd.DataFrame(index=genes))


def _truth_and_models(n: int = 25, g: int = 14) -> tuple[ad.AnnData, list[ad.AnnData]]:
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(g)]
    shift = {p: rng.normal(0, 0.8, g) for p in PERTURBATIONS}
    pairs = [(k, p) for k in ("a", "b") for p in (c.CONTROL, *PERTURBATIONS) for _ in range(n)]
    truth = _cells(rng, [p for _, p in pairs], [k for k, _ in pairs], genes, shift, 0.0)
    tested = [(k, p) for k, p in pairs if p != c.CONTROL]
    models = [
        _cells(rng, [p for _, p in tested], [k for k, _ in tested], genes, shift, noise)
        for noise in (0.2, 0.6, 1.0)
    ]
    return truth, models


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_exact=True)  # NaN == NaN, bit for bit otherwise


def test_scores_are_bit_identical_with_a_cache_in_memory_and_on_disk(tmp_path: Path) -> None:
    truth, models = _truth_and_models()
    kwargs = {"metrics": "full", "max_cells": 20, "n_pcs": 5}
    plain = [evaluate(model, truth, **kwargs) for model in models]
    cache = TruthCache()
    for model, expected in zip(models, plain, strict=True):
        _same(evaluate(model, truth, truth_cache=cache, **kwargs), expected)
    assert len(cache) > 0 and cache.hits > 0
    path = cache.save(tmp_path / "truth_statistics.npz")
    loaded = TruthCache.load(path)
    _same(evaluate(models[1], truth, truth_cache=loaded, **kwargs), plain[1])
    assert loaded.hits > 0


def test_a_warm_cache_skips_the_real_vs_real_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    truth, models = _truth_and_models()
    cache = TruthCache()
    evaluate(models[0], truth, metrics=["sinkhorn"], max_cells=20, truth_cache=cache)
    calls = []
    original = distributions.entropic_ot
    monkeypatch.setattr(
        distributions, "entropic_ot", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    evaluate(models[1], truth, metrics=["sinkhorn"], max_cells=20, truth_cache=cache)
    assert len(calls) == 2 * 2 * len(PERTURBATIONS)  # Y–X and Y–Y only: X–X comes from the cache


def test_parameters_and_another_truth_are_never_served_stale_values() -> None:
    truth, models = _truth_and_models()
    cache = TruthCache()
    evaluate(models[0], truth, metrics="full", max_cells=20, n_pcs=5, truth_cache=cache)
    for kwargs in ({"max_cells": 10, "n_pcs": 5}, {"max_cells": 20, "n_pcs": 3, "seed": 4}):
        expected = evaluate(models[0], truth, metrics="full", **kwargs)
        _same(evaluate(models[0], truth, metrics="full", truth_cache=cache, **kwargs), expected)
    other = truth.copy()
    other.X = other.X * np.float32(1.5)  # same cells and names, other values
    model_a = models[0]
    expected = evaluate(model_a, other, metrics="full", max_cells=20, n_pcs=5)
    _same(
        evaluate(model_a, other, metrics="full", max_cells=20, n_pcs=5, truth_cache=cache), expected
    )


def test_an_unreadable_cache_file_is_an_empty_cache(tmp_path: Path) -> None:
    broken = tmp_path / "truth_statistics.npz"
    broken.write_bytes(b"not a zip file")
    assert len(TruthCache.load(broken)) == 0
    assert len(TruthCache.load(tmp_path / "missing.npz")) == 0
