"""The scale check of predictions: counts and centred values are refused, borderline ones warned."""

from __future__ import annotations

import re
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from vcbench.data import contract as c
from vcbench.datasets import demo
from vcbench.errors import MetricError
from vcbench.metrics.input_checks import ScaleWarning, check_scale, scale_stats
from vcbench.runner import parse_spec, run_benchmark


@pytest.fixture(scope="module")
def truth() -> ad.AnnData:
    data = demo()
    return data[data.obs[c.CONTEXT].astype(str) == "k562"].copy()


def _like(truth: ad.AnnData, x: np.ndarray) -> ad.AnnData:
    return ad.AnnData(x, truth.obs.copy(), truth.var.copy())


def _dense(truth: ad.AnnData) -> np.ndarray:
    x = truth.X
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)


def _outcome(prediction: ad.AnnData, truth: ad.AnnData) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScaleWarning)
        try:
            check_scale(prediction, truth)
        except ScaleWarning as warning:
            return f"warning: {warning}"
        except MetricError as error:
            return f"error: {error}"
    return "ok"


def test_the_truth_itself_and_its_condition_means_pass(truth):
    x = _dense(truth)
    assert _outcome(_like(truth, x), truth) == "ok"
    # a means-level prediction: row totals are linear, so condition means total like their cells
    labels = truth.obs[c.PERTURBATION].astype(str).to_numpy()
    means = pd.DataFrame(x).groupby(labels).mean()
    mean_rows = ad.AnnData(
        means.to_numpy(), pd.DataFrame(index=means.index.astype(str)), truth.var.copy()
    )
    assert _outcome(mean_rows, truth) == "ok"


def test_counts_are_refused_with_the_likely_cause(truth):
    counts = np.round(np.expm1(_dense(truth)))
    stats = scale_stats(_like(truth, counts))
    assert stats.integer_valued and stats.maximum > 100
    outcome = _outcome(_like(truth, counts), truth)
    assert outcome.startswith("error: The prediction's values are far larger than the truth's")
    assert "looks like raw or normalised counts" in outcome


def test_log2_instead_of_natural_log_is_a_warning(truth):
    log2 = _dense(truth) / np.log(2)  # log2(1 + x) = ln(1 + x) / ln 2: 1.44 × the totals
    outcome = _outcome(_like(truth, log2), truth)
    assert outcome.startswith("warning: The prediction's row totals are 1.44 × the truth's")


def test_mostly_negative_values_are_refused_centred_ones_and_a_few_negatives_warned(truth):
    x = _dense(truth)
    centred = x - x.mean(axis=0)  # about 47 % of the values fall below their gene's mean
    assert re.match(
        r"warning: 4\d% of the prediction's values are negative",
        _outcome(_like(truth, centred), truth),
    )
    assert "likely outputs centred or scaled values" in _outcome(_like(truth, centred), truth)
    shifted = x - 1.0  # most values negative (most are 0 before): refused
    assert (shifted < 0).mean() > 0.6
    assert re.match(
        r"error: \d\d% of the prediction's values are negative",
        _outcome(_like(truth, shifted), truth),
    )
    assert _outcome(_like(truth, -np.abs(x) - 0.1), truth).startswith(
        "error: 100% of the prediction's values are negative"
    )
    few = x.copy()
    few[:, 0] = -0.05  # one gene of every row: 0.2 % of the values
    assert _outcome(_like(truth, few), truth).startswith("warning: ")


def test_a_benchmark_records_the_scale_error_of_a_model(tmp_path):
    spec = parse_spec(
        f"output: {tmp_path}\ncalibration: false\nmetrics: [rmse]\n"
        "datasets: [{name: demo, source: demo}]\n"
        "scenarios: [{name: perturbation, variant: combo, options: {context: k562}, seeds: [0]}]\n"
        "models: [{name: no_change}, {name: 'reliability_models:PredictsCounts', label: counts}]\n"
    )
    result = run_benchmark(spec)
    failed = result.failures
    assert list(failed["model"]) == ["counts"]
    assert "looks like raw or normalised counts" in failed["error"].iloc[0]
