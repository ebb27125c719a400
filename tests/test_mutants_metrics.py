"""metrics/aggregate.py pinned (mutants the metric tests let survive): the summary per group and the
bootstrap interval, against numpy computed here. Fast, in-process."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

from vcbench.metrics.aggregate import aggregate, bootstrap_interval
from vcbench.metrics.registry import METRICS


def _reference_interval(values, n_boot, level, seed) -> tuple[float, float]:
    """The percentile bootstrap of the mean, written out: one resample per row."""
    defined = np.asarray([v for v in values if not np.isnan(v)], dtype=np.float64)
    draws = np.random.default_rng(seed).integers(0, defined.size, size=(n_boot, defined.size))
    means = np.array([defined[row].sum() / defined.size for row in draws])
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def test_bootstrap_interval_is_the_percentile_interval_of_resampled_means() -> None:
    # continuous values: the interval's bounds change with the seed and the number of resamples
    values = np.append(np.random.default_rng(5).normal(size=25), np.nan)
    for n_boot, level, seed in [(1000, 0.95, 0), (200, 0.8, 7)]:
        got = bootstrap_interval(values, n_boot=n_boot, level=level, seed=seed)
        assert got == pytest.approx(_reference_interval(values, n_boot, level, seed), abs=1e-12)
    low, high = bootstrap_interval(values)
    mean = np.nanmean(values)
    assert low < mean < high and isinstance(low, float)
    # a wider level gives a wider interval; the default is 95 %
    low80, high80 = bootstrap_interval(values, level=0.8)
    assert low < low80 < high80 < high
    assert (low, high) == bootstrap_interval(values, n_boot=1000, level=0.95, seed=0)
    assert (low, high) != bootstrap_interval(values, n_boot=1000, level=0.95, seed=1)
    assert (low, high) != bootstrap_interval(values, n_boot=1001, level=0.95, seed=0)
    assert np.isnan(bootstrap_interval(np.array([np.nan, np.nan]))).all()
    assert bootstrap_interval(np.array([2.0])) == (2.0, 2.0)


def test_aggregate_summarises_each_group_over_its_defined_values() -> None:
    many = np.random.default_rng(1).normal(size=12)
    scores = pd.DataFrame(
        {
            "context": ["k2"] * 15 + ["k1", "k1", "k2"],
            "metric": ["rmse"] * 16 + ["pdcorr", "pdcorr"],
            "value": [1.0, 3.0, np.nan, *many, 4.0, 0.5, np.nan],
        }
    )
    with warnings.catch_warnings():  # no "mean of empty slice" for the undefined groups
        warnings.simplefilter("error", RuntimeWarning)
        out = aggregate(scores, n_boot=300, seed=2)
    # groups in order of first appearance
    assert out[["context", "metric"]].values.tolist() == [
        ["k2", "rmse"],
        ["k1", "rmse"],
        ["k1", "pdcorr"],
        ["k2", "pdcorr"],
    ]
    first = out.iloc[0]
    defined = np.array([1.0, 3.0, *many])
    assert first["mean"] == pytest.approx(defined.sum() / 14)
    assert first["sd"] == pytest.approx(np.sqrt(((defined - defined.mean()) ** 2).sum() / 13))
    assert first["n"] == 15 and first["n_nan"] == 1
    reference = _reference_interval([1.0, 3.0, np.nan, *many], 300, 0.95, 2)
    assert (first["ci_low"], first["ci_high"]) == pytest.approx(reference, abs=1e-12)
    assert aggregate(scores, n_boot=300, seed=3).iloc[0]["ci_low"] != first["ci_low"]
    pair = aggregate(scores.iloc[[0, 1]], n_boot=50).iloc[0]
    assert pair["sd"] == pytest.approx(np.sqrt(2.0))  # two values: ddof = 1
    single = out.iloc[1]
    assert single["mean"] == 4.0 and np.isnan(single["sd"]) and single["n"] == 1
    assert single["n_nan"] == 0 and single["ci_low"] == single["ci_high"] == 4.0
    undefined = out.iloc[3]
    assert np.isnan(undefined["mean"]) and np.isnan(undefined["sd"]) and undefined["n_nan"] == 1
    assert undefined["n"] == 1
    assert out["family"].tolist() == [METRICS[m].family for m in out["metric"]]
    assert out["best"].tolist() == [METRICS[m].best for m in out["metric"]]
    assert out["n"].dtype.kind == "i" and out["n_nan"].dtype.kind == "i"
    assert list(out.columns) == [
        "context",
        "metric",
        "mean",
        "sd",
        "n",
        "n_nan",
        "ci_low",
        "ci_high",
        "family",
        "best",
    ]


def test_aggregate_by_one_column_and_unknown_metrics() -> None:
    scores = pd.DataFrame(
        {"metric": ["mine"] * 8 + ["rmse"], "value": [1.0, 2.0, 0.3, 7.0, 2.2, 5.1, 0.4, 3.3, 3.0]}
    )
    out = aggregate(scores, by=("metric",), n_boot=50)
    assert out["metric"].tolist() == ["mine", "rmse"]
    assert out["mean"].tolist() == pytest.approx([21.3 / 8, 3.0])
    assert out.loc[0, "family"] == "" and np.isnan(out.loc[0, "best"])
    without_metric = aggregate(scores.rename(columns={"metric": "model"}), by=("model",))
    assert "family" not in without_metric and "best" not in without_metric
    # the default seed and n_boot are those of bootstrap_interval's defaults
    default = aggregate(scores, by=("metric",))
    expected = bootstrap_interval(scores["value"].to_numpy()[:8])
    assert (default.loc[0, "ci_low"], default.loc[0, "ci_high"]) == expected
    assert expected != bootstrap_interval(scores["value"].to_numpy()[:8], seed=1)
    # a categorical grouping column keeps only the observed categories
    scores["metric"] = pd.Categorical(scores["metric"], categories=["mine", "rmse", "unused"])
    assert aggregate(scores, by=("metric",), n_boot=50)["metric"].tolist() == ["mine", "rmse"]


# --- metrics/definitions.py, on hand-worked ContextArrays --------------------------------------


def _arrays(predicted, observed, control, **options):
    from vcbench.metrics.definitions import ContextArrays

    predicted, observed = np.asarray(predicted, float), np.asarray(observed, float)
    mask = np.zeros(predicted.shape, dtype=bool)
    return ContextArrays(predicted, observed, np.asarray(control, float), mask, **options)


def test_cell_level_metrics_read_their_values_or_are_nan() -> None:
    from vcbench.metrics.definitions import cell_level

    lookup = cell_level("my_metric")
    assert lookup.__name__ == "my_metric"
    assert lookup.__doc__.startswith("``my_metric``: computed from the cells")
    arrays = _arrays([[1.0, 2.0]] * 3, [[1.0, 2.0]] * 3, [0.0, 0.0])
    assert np.isnan(lookup(arrays)).all() and lookup(arrays).shape == (3,)
    given = dataclasses.replace(arrays, cell_values={"my_metric": [1, 2, 4], "other": [0, 0, 0]})
    out = lookup(given)
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0, 4.0]


def test_de_signs_count_a_gene_without_change_as_sign_zero() -> None:
    from vcbench.metrics.definitions import de_sign_acc_down, de_sign_acc_up, de_sign_error

    # control 0, so deltas are the means; k = 50 > 3 genes: T_c is every gene
    # row 0: d = (2, 0, -1), e = (1, 0, -1): every sign agrees, the unchanged gene's too (0 = 0)
    # row 1: d = (2, 0, -1), e = (1, 3, 1): the 2nd and 3rd disagree
    # row 2: d constant (0, 0, 0): undefined
    observed = [[2.0, 0.0, -1.0], [2.0, 0.0, -1.0], [0.0, 0.0, 0.0]]
    predicted = [[1.0, 0.0, -1.0], [1.0, 3.0, 1.0], [1.0, 0.0, 0.0]]
    arrays = _arrays(predicted, observed, [0.0, 0.0, 0.0])
    error = de_sign_error(arrays)
    assert error[:2].tolist() == pytest.approx([0.0, 2 / 3]) and np.isnan(error[2])
    assert error.dtype == np.float64
    up, down = de_sign_acc_up(arrays), de_sign_acc_down(arrays)
    assert up[:2].tolist() == [1.0, 1.0] and np.isnan(up[2])  # one up gene, predicted up
    assert down[:2].tolist() == [1.0, 0.0] and np.isnan(down[2])


def test_rankings_break_ties_in_gene_order() -> None:
    # 60 genes with |d| in {0, 1, 2}: many ties, past the size where an unstable sort keeps order
    d = np.random.default_rng(0).integers(-2, 3, size=(2, 60)).astype(float)
    arrays = _arrays(-d, d, np.zeros(60))
    for row in range(2):
        expected = sorted(range(60), key=lambda g: -abs(d[row, g]))  # Python's sort is stable
        assert arrays.observed_ranking[row].tolist() == expected
        assert arrays.predicted_ranking[row].tolist() == expected


def test_blocked_distances_cover_every_row() -> None:
    from vcbench.metrics.definitions import masked_l1_distances, pairwise_squared_euclidean

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(7, 4)), rng.normal(size=(5, 4))
    excluded = rng.random((7, 4)) < 0.3
    sq = [[sum((a[i, g] - b[j, g]) ** 2 for g in range(4)) for j in range(5)] for i in range(7)]
    l1 = [
        [sum(abs(a[i, g] - b[j, g]) for g in range(4) if not excluded[i, g]) for j in range(5)]
        for i in range(7)
    ]
    # 8 · 20 values = 160 bytes a row of blocks: chunk_bytes 330 gives blocks of 2 rows, 1 gives 1
    for chunk_bytes in (330.0, 1.0, 8e6):
        np.testing.assert_allclose(masked_l1_distances(a, b, excluded, chunk_bytes), l1)
        np.testing.assert_allclose(pairwise_squared_euclidean(a, b, chunk_bytes), sq)


def test_near_constant_rows_are_undefined_for_every_correlation() -> None:
    from vcbench.metrics.definitions import lfc_cosine, lfc_spearman, pcc, pdcorr_de, rowwise_cosine

    # rms deviation 6e-7 (a norm of 1.2e-6 over 4 genes) is below the tolerance 1e-6: NaN
    tiny = np.array([[6e-7, -6e-7, 6e-7, -6e-7], [1.0, 2.0, 3.0, 5.0]])
    assert np.isnan(rowwise_cosine(tiny, tiny[::-1], atol=1e-6)).all()
    cosine = rowwise_cosine(tiny, tiny, atol=1e-7)
    assert cosine.tolist() == pytest.approx([1.0, 1.0])
    # a prediction within rounding (1e-9) of the control: every correlation with it is NaN
    control = np.array([1.0, 2.0, 3.0, 4.0])
    noise = np.array([1e-9, -2e-9, 3e-9, 0.0])
    observed = control + np.array([[0.5, -1.0, 2.0, 0.3]])
    arrays = _arrays([control + noise], observed, control, k=4)
    assert arrays.constant_tolerance == pytest.approx(1e-6 * (1 + np.sqrt(7.5)))
    for metric in (pdcorr_de, lfc_spearman, lfc_cosine):
        assert np.isnan(metric(arrays)).all(), metric.__name__
    flat = _arrays([np.full(4, 2.0) + noise], observed, control)
    assert np.isnan(pcc(flat)).all()
    # in PC space too (components: the first three genes' axes)
    from vcbench.metrics.definitions import pca_delta_spearman

    in_pcs = dataclasses.replace(arrays, components=np.eye(4)[:, :3])
    assert np.isnan(pca_delta_spearman(in_pcs)).all()


def _loop_retrieval(predicted, observed, control) -> dict[str, list[float]]:
    """PDS, centroid accuracy, PDRCorr and Systema's PDCorr written out pair by pair."""
    e, d, p = predicted - control, observed - control, len(predicted)

    def corr(u, v):
        return np.corrcoef(u, v)[0, 1]

    out = {"pds": [], "centroid_accuracy": [], "rank_pdcorr": [], "pdcorr_systema": []}
    s = observed.mean(axis=0)
    for i in range(p):
        others = [q for q in range(p) if q != i]
        own = np.abs(e[i] - d[i]).sum()
        closer = sum(np.abs(e[i] - d[q]).sum() < own for q in others)
        out["pds"].append(1 - closer / (p - 1))
        own = np.linalg.norm(predicted[i] - observed[i])
        farther = sum(np.linalg.norm(predicted[i] - observed[q]) > own for q in others)
        out["centroid_accuracy"].append(farther / (p - 1))
        own = corr(e[i], d[i])
        out["rank_pdcorr"].append(sum(corr(e[q], d[i]) > own for q in others) / (p - 1))
        out["pdcorr_systema"].append(corr(predicted[i] - s, observed[i] - s))
    return out


@pytest.mark.parametrize("p", [2, 5])
def test_retrieval_metrics_match_pairwise_loops_in_one_block_or_many(p, monkeypatch) -> None:
    from vcbench.metrics import definitions

    rng = np.random.default_rng(p)
    control = rng.normal(2.0, 0.5, size=6)
    observed = control + rng.normal(size=(p, 6))
    # noisy predictions, each shifted by its own constant: centring changes the correlations
    predicted = observed + rng.normal(0, 0.8, size=(p, 6)) + rng.normal(0, 3, size=(p, 1))
    expected = _loop_retrieval(predicted, observed, control)
    for block_bytes in (definitions.RETRIEVAL_BLOCK_BYTES, 8.0 * p):  # one block; rows 1 by 1
        monkeypatch.setattr(definitions, "RETRIEVAL_BLOCK_BYTES", block_bytes)
        arrays = _arrays(predicted, observed, control)
        for name, values in expected.items():
            got = getattr(definitions, name)(arrays)
            np.testing.assert_allclose(got, values, atol=1e-12, err_msg=name)


def test_average_ranks_are_scipys_rankdata() -> None:
    from scipy.stats import rankdata

    from vcbench.metrics.definitions import average_ranks

    values = np.random.default_rng(2).integers(0, 4, size=(3, 40)).astype(float)
    values[2, 5] = np.nan
    ranks = average_ranks(values)
    np.testing.assert_array_equal(ranks[:2], rankdata(values[:2], axis=1))
    assert np.isnan(ranks[2]).all()
    assert average_ranks(np.array([[3, 1, 2]])).tolist() == [[3.0, 1.0, 2.0]]  # integers too


def test_constant_rows_and_the_correlations_default_tolerance() -> None:
    from vcbench.metrics.definitions import rowwise_cosine, rowwise_pearson, rowwise_spearman

    # a delta constant but not zero is constant: no top-k set
    arrays = _arrays([[1.0, 2.0, 4.0]] * 2, [[3.0, 3.0, 3.0], [1.0, 2.0, 3.0]], [0.0, 0.0, 0.0])
    assert arrays.observed_constant.tolist() == [True, False]
    # small but varying rows are correlated at the default atol = 0 (worked by hand)
    a, b = np.array([[0.1, 0.2, 0.3]]), np.array([[0.3, 0.1, 0.2]])
    assert rowwise_pearson(a, b).tolist() == pytest.approx([-0.5])
    assert rowwise_spearman(a, b).tolist() == pytest.approx([-0.5])
    cosine = rowwise_cosine(np.array([[0.1, 0.2]]), np.array([[0.2, 0.1]]))
    assert cosine.tolist() == pytest.approx([0.8])  # 0.04 / 0.05
    # rms 6e-7 < atol 1e-6 (though 6e-7 · 4 genes > 1e-6): undefined, on either side
    tiny = np.array([[6e-7, -6e-7, 6e-7, -6e-7]])
    varying = np.array([[1.0, 2.0, 3.0, 5.0]])
    for f in (rowwise_pearson, rowwise_spearman, rowwise_cosine):
        assert np.isnan(f(tiny, varying, atol=1e-6)).all(), f.__name__
        assert np.isnan(f(varying, tiny, atol=1e-6)).all(), f.__name__
        assert not np.isnan(f(tiny, varying, atol=1e-7)).any(), f.__name__


def test_a_near_constant_observed_delta_has_no_retrieval_rank() -> None:
    from vcbench.metrics.definitions import rank_pdcorr

    tiny = np.array([6e-7, -6e-7, 6e-7, -6e-7])  # rms below the tolerance 1e-6 (control 0)
    observed = np.array([tiny, [1.0, 2.0, 3.0, 5.0], [2.0, -1.0, 0.0, 1.0]])
    predicted = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 6.0], [0.0, 1.0, 0.0, 2.0]])
    ranks = rank_pdcorr(_arrays(predicted, observed, np.zeros(4)))
    assert np.isnan(ranks[0]) and not np.isnan(ranks[1:]).any()
