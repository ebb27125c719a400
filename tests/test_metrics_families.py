"""Every metric of docs/metrics.md against an independent computation (scipy, scikit-learn, loops, POT)."""

from __future__ import annotations

import importlib
import itertools

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import cdist
from scipy.spatial.distance import cosine as cosine_distance
from sklearn.decomposition import PCA
from sklearn.metrics import mean_absolute_error, mean_squared_error

from vcbench.data import contract as c
from vcbench.distances import energy_distance as shared_energy_distance
from vcbench.metrics import PROFILES, aggregate, bootstrap_interval, evaluate
from vcbench.metrics import definitions as d
from vcbench.metrics.definitions import ContextArrays
from vcbench.metrics.distributions import SamplePair
from vcbench.metrics.wilcoxon import ControlRanks, benjamini_hochberg


def _arrays(seed: int, p: int = 7, g: int = 60, **kwargs) -> ContextArrays:
    rng = np.random.default_rng(seed)
    control = rng.random(g) * 3 + 1.5  # means stay above −0.1: every lfc is defined
    return ContextArrays(
        predicted=control + rng.normal(0, 0.5, (p, g)),
        observed=control + rng.normal(0, 0.5, (p, g)),
        control=control,
        target_mask=np.zeros((p, g), dtype=bool),
        **kwargs,
    )


def _top(v: np.ndarray, k: int) -> list[int]:
    return sorted(range(len(v)), key=lambda g: (-abs(v[g]), g))[:k]


def _lfc(v: np.ndarray, x0: np.ndarray) -> np.ndarray:
    return np.log2(v + 0.1) - np.log2(x0 + 0.1)


# --- correlation ----------------------------------------------------------------------------------


def test_correlation_metrics_match_scipy() -> None:
    arrays = _arrays(1)
    s = arrays.observed.mean(axis=0)  # the test context's perturbed centroid
    x0 = arrays.control
    for i in range(arrays.n_conditions):
        y, x = arrays.predicted[i], arrays.observed[i]
        top20 = _top(x - x0, 20)
        assert d.pcc(arrays)[i] == pytest.approx(stats.pearsonr(y, x).statistic)
        assert d.pdcorr_de(arrays)[i] == pytest.approx(
            stats.pearsonr((y - x0)[top20], (x - x0)[top20]).statistic
        )
        assert d.pdcorr_systema(arrays)[i] == pytest.approx(stats.pearsonr(y - s, x - s).statistic)
        assert d.lfc_spearman(arrays)[i] == pytest.approx(
            stats.spearmanr(_lfc(y, x0), _lfc(x, x0)).statistic
        )
        assert d.lfc_cosine(arrays)[i] == pytest.approx(
            1 - cosine_distance(_lfc(y, x0), _lfc(x, x0))
        )


def test_systema_with_one_condition_and_lfc_below_pseudocount_are_nan() -> None:
    assert np.isnan(d.pdcorr_systema(_arrays(2, p=1))).all()
    arrays = _arrays(2)
    arrays.predicted[0, 0] = -0.5  # log2(−0.4) is undefined
    assert np.isnan(d.lfc_spearman(arrays)[0]) and np.isfinite(d.lfc_spearman(arrays)[1:]).all()


def test_spearman_with_ties_matches_scipy() -> None:
    a = np.array([[1.0, 2.0, 2.0, 3.0, 0.0]])
    b = np.array([[0.5, 0.5, 1.0, 4.0, 4.0]])
    assert d.rowwise_spearman(a, b)[0] == pytest.approx(stats.spearmanr(a[0], b[0]).statistic)


# --- retrieval ------------------------------------------------------------------------------------


def _rank_brute_force(similarity) -> np.ndarray:
    """r_c = (#{q ≠ c: s(q, c) > s(c, c)} + ½ #{equal}) / (P − 1), with a double loop."""
    p = len(similarity)
    out = []
    for cond in range(p):
        own = similarity[cond][cond]
        better = sum(similarity[q][cond] > own for q in range(p) if q != cond)
        equal = sum(similarity[q][cond] == own for q in range(p) if q != cond)
        out.append((better + 0.5 * equal) / (p - 1))
    return np.array(out)


def test_retrieval_ranks_match_a_double_loop() -> None:
    arrays = _arrays(3, p=9)
    e, dd = arrays.predicted_delta, arrays.observed_delta
    rho = [[stats.pearsonr(e[q], dd[cc]).statistic for cc in range(9)] for q in range(9)]
    np.testing.assert_allclose(d.rank_pdcorr(arrays), _rank_brute_force(rho))
    ly, lx = _lfc(arrays.predicted, arrays.control), _lfc(arrays.observed, arrays.control)
    cos = [[1 - cosine_distance(ly[q], lx[cc]) for cc in range(9)] for q in range(9)]
    np.testing.assert_allclose(d.rank_lfc_cosine(arrays), _rank_brute_force(cos))
    expected = []
    for cc in range(9):
        own = np.linalg.norm(arrays.predicted[cc] - arrays.observed[cc])
        others = [np.linalg.norm(arrays.predicted[cc] - arrays.observed[q]) for q in range(9)]
        expected.append(sum(o > own for q, o in enumerate(others) if q != cc) / 8)
    np.testing.assert_allclose(d.centroid_accuracy(arrays), expected)


def test_rank_pdcorr_hand_worked_example_with_ties() -> None:
    # zero controls: effects are the means. Predictions 0 and 1 are identical (a tie for both).
    observed = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 3.0, 2.0]])
    predicted = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    arrays = ContextArrays(predicted, observed, np.zeros(3), np.zeros((3, 3), dtype=bool))
    # column 0 (d_0 = 1,2,3): ρ(e_0) = 1, ρ(e_1) = 1 (tie), ρ(e_2) = −1 → (0 + ½)/2 = 0.25
    # column 1 (d_1 = 3,2,1): ρ(e_1) = −1, ρ(e_0) = −1 (tie), ρ(e_2) = 1 (better) → (1 + ½)/2 = 0.75
    # column 2 (d_2 = 1,3,2): ρ(e_2) = −0.5, ρ(e_0) = ρ(e_1) = 0.5 (both better) → 2/2 = 1
    np.testing.assert_allclose(d.rank_pdcorr(arrays), [0.25, 0.75, 1.0])
    # centroid accuracy, strict ">" (ties count against): row 0: ‖y_0 − x_q‖ = 0, √8, √2 → 2/2
    # row 1: own √8; others 0, √2 → 0; row 2: own √2... x_0: √8 > √2, x_1: 0 → 1/2
    np.testing.assert_allclose(d.centroid_accuracy(arrays), [1.0, 0.0, 0.5])


def test_mode_collapse_is_random_for_every_retrieval_metric() -> None:
    arrays = _arrays(4, p=8)
    collapsed = ContextArrays(
        np.tile(arrays.predicted[0], (8, 1)), arrays.observed, arrays.control, arrays.target_mask
    )
    for metric in (d.rank_pdcorr, d.rank_lfc_cosine, d.pds):
        assert metric(collapsed).mean() == pytest.approx(0.5)
    single = ContextArrays(
        arrays.predicted[:1], arrays.observed[:1], arrays.control, arrays.target_mask[:1]
    )
    for metric in (d.rank_pdcorr, d.rank_lfc_cosine, d.centroid_accuracy):
        assert np.isnan(metric(single)).all()


# --- differential expression -----------------------------------------------------------------------


def test_top_k_de_metrics_match_set_arithmetic() -> None:
    arrays = _arrays(5, k=10)
    x0 = arrays.control
    for i in range(arrays.n_conditions):
        y, x = arrays.predicted[i], arrays.observed[i]
        e, dd = y - x0, x - x0
        true, pred = set(_top(dd, 10)), set(_top(e, 10))
        assert d.de_precision(arrays)[i] == pytest.approx(len(true & pred) / len(pred))
        assert d.de_recall(arrays)[i] == pytest.approx(len(true & pred) / len(true))
        assert d.de_overlap(arrays)[i] == pytest.approx(len(true & pred) / len(true | pred))
        assert d.de_sign_error(arrays)[i] == pytest.approx(
            np.mean([np.sign(e[g]) != np.sign(dd[g]) for g in true])
        )
        up = [g for g in true if dd[g] > 0]
        down = [g for g in true if dd[g] < 0]
        assert d.de_sign_acc_up(arrays)[i] == pytest.approx(np.mean([e[g] > 0 for g in up]))
        assert d.de_sign_acc_down(arrays)[i] == pytest.approx(np.mean([e[g] < 0 for g in down]))
        top20 = _top(dd, 10)  # top-20 of T_c is capped at k
        assert d.mse_de(arrays)[i] == pytest.approx(np.mean((y[top20] - x[top20]) ** 2))


def test_top_k_sets_of_a_constant_prediction_are_undefined() -> None:
    arrays = _arrays(6)
    arrays.predicted[2] = arrays.control  # no change: the top-k of e_c is undefined
    assert np.isnan(d.de_precision(arrays)[2]) and np.isnan(d.de_overlap(arrays)[2])
    assert d.de_sign_error(arrays)[2] == 1.0  # every sign is 0 ≠ ±1
    assert np.isfinite(d.de_precision(arrays)[[0, 1, 3]]).all()


def test_wilcoxon_matches_scipy_mannwhitneyu_with_ties() -> None:
    rng = np.random.default_rng(7)
    controls = np.log1p(rng.poisson(1.0, (40, 30))).astype(np.float32).astype(np.float64)
    for cells in (
        np.log1p(rng.poisson(1.6, (25, 30))).astype(np.float32).astype(np.float64),  # int64 keys
        rng.normal(0.5, 1.0, (25, 30)),  # not float32-exact, negative values: complex keys
    ):
        cells[:, 0] = 0.0
        controls[:, 0] = 0.0  # every value tied: p = 1
        u, p = ControlRanks(controls).u_statistic_and_pvalue(cells)
        reference = stats.mannwhitneyu(cells, controls, method="asymptotic", axis=0)
        u1 = reference.statistic  # scipy returns U of the first sample
        np.testing.assert_allclose(u, u1)
        np.testing.assert_allclose(p, np.nan_to_num(reference.pvalue, nan=1.0), rtol=1e-10)
        assert p[0] == 1.0
        np.testing.assert_allclose(
            benjamini_hochberg(p)[0], stats.false_discovery_control(p), rtol=1e-12
        )


# --- distance -------------------------------------------------------------------------------------


def test_mse_mae_rmse_match_sklearn() -> None:
    arrays = _arrays(8)
    for i in range(arrays.n_conditions):
        y, x = arrays.predicted[i], arrays.observed[i]
        assert d.mse(arrays)[i] == pytest.approx(mean_squared_error(x, y))
        assert d.mae(arrays)[i] == pytest.approx(mean_absolute_error(x, y))
        assert d.rmse(arrays)[i] == pytest.approx(np.sqrt(mean_squared_error(x, y)))


def test_energy_distance_and_mmd_match_double_loops() -> None:
    rng = np.random.default_rng(10)
    y, x = rng.normal(size=(7, 4)), rng.normal(0.5, 1.0, size=(9, 4))
    pair = SamplePair(y, x)
    dist = lambda a, b: float(np.sqrt(((a - b) ** 2).sum()))  # noqa: E731
    between = np.mean([dist(a, b) for a in y for b in x])
    within_y = np.mean([dist(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j])
    within_x = np.mean([dist(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j])
    assert pair.energy_distance() == pytest.approx(2 * between - within_x - within_y)
    assert pair.energy_distance() == pytest.approx(shared_energy_distance(y, x))
    pooled = np.vstack([y, x])
    sigma = np.median([dist(a, b) for a, b in itertools.combinations(pooled, 2)])
    k = lambda a, b: np.exp(-(dist(a, b) ** 2) / (2 * sigma**2))  # noqa: E731
    k_yy = np.mean([k(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j])
    k_xx = np.mean([k(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j])
    k_yx = np.mean([k(a, b) for a in y for b in x])
    assert pair.mmd_rbf() == pytest.approx(k_yy + k_xx - 2 * k_yx)
    assert np.isnan(SamplePair(y[:1], x).energy_distance())


def _pot_sinkhorn_divergence(y: np.ndarray, x: np.ndarray, eps: float = 0.05**2) -> float:
    """``OT_ε(Y, X) − ½OT_ε(Y, Y) − ½OT_ε(X, X)`` with POT's log-domain Sinkhorn, cost ½‖a − b‖²."""
    ot = pytest.importorskip("ot")

    def entropic(a_pts: np.ndarray, b_pts: np.ndarray) -> float:
        cost = 0.5 * ot.dist(a_pts, b_pts)  # ½‖a − b‖²
        a, b = np.full(len(a_pts), 1 / len(a_pts)), np.full(len(b_pts), 1 / len(b_pts))
        plan = ot.sinkhorn(a, b, cost, eps, method="sinkhorn_log", numItermax=20000, stopThr=1e-12)
        kl = (plan * np.log(plan / np.outer(a, b))).sum()
        return float((cost * plan).sum() + eps * kl)

    return entropic(y, x) - 0.5 * entropic(y, y) - 0.5 * entropic(x, x)


def test_sinkhorn_divergence_matches_pot() -> None:
    rng = np.random.default_rng(11)
    y, x = rng.normal(0, 0.06, (12, 2)), rng.normal(0.03, 0.06, (15, 2))
    expected = _pot_sinkhorn_divergence(y, x)
    assert SamplePair(y, x).sinkhorn() == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert SamplePair(x, x).sinkhorn() == pytest.approx(0.0, abs=1e-9)  # debiased: S(X, X) = 0


# --- evaluate with cells ------------------------------------------------------------------------


def _cells_pair(seed: int = 0, n: int = 30, g: int = 12, perts=("G0", "G1", "G2+G3", "G4")):
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(g)]
    shift = {p: rng.normal(0, 0.8, g) for p in perts}

    def draw(noise: float, with_controls: bool) -> ad.AnnData:
        labels = ([c.CONTROL] * n if with_controls else []) + [p for p in perts for _ in range(n)]
        base = np.abs(rng.normal(2.0, 0.3, (len(labels), g)))
        x = (
            base
            + np.array([shift.get(lab, np.zeros(g)) for lab in labels])
            + rng.normal(0, noise, base.shape)
        )
        obs = pd.DataFrame({c.CONTEXT: "k", c.PERTURBATION: labels})
        obs[c.IS_CONTROL] = obs[c.PERTURBATION] == c.CONTROL
        obs.index = [f"c{i}" for i in range(len(obs))]
        return ad.AnnData(np.clip(x, 0, None).astype(np.float32), obs, pd.DataFrame(index=genes))

    return draw(0.3, False), draw(0.0, True)


def test_pca_delta_spearman_matches_sklearn_pca() -> None:
    prediction, truth = _cells_pair(1)
    scores = evaluate(prediction, truth, metrics=["pca_delta_spearman"], n_pcs=5)
    x = truth.X.astype(np.float64)
    components = PCA(n_components=5, svd_solver="full").fit(x).components_.T
    signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(5)])
    components = components * signs  # vcbench's sign convention: largest loading positive
    control = truth.obs[c.IS_CONTROL].to_numpy()
    x0 = x[control].mean(axis=0)
    for _, row in scores.iterrows():
        y_c = prediction.X[prediction.obs[c.PERTURBATION] == row["perturbation"]].mean(axis=0)
        x_c = x[(truth.obs[c.PERTURBATION] == row["perturbation"]).to_numpy()].mean(axis=0)
        expected = stats.spearmanr((y_c - x0) @ components, (x_c - x0) @ components).statistic
        assert row["value"] == pytest.approx(expected)


def test_pca_distances_match_sklearn_pca_with_scipy_and_pot() -> None:
    # the cells are shrunk 20-fold so that ε = 0.05² is not negligible against the costs and POT's
    # reference Sinkhorn converges (at unit scale it needs > 1e5 iterations); both distances are
    # invariant to the PCA's centring and to the sign of each component
    prediction, truth = _cells_pair(6)
    prediction.X, truth.X = prediction.X * 0.05, truth.X * 0.05
    names = ["pca_energy_distance", "pca_sinkhorn"]
    scores = evaluate(prediction, truth, metrics=names, n_pcs=5, max_cells=None)
    scores = scores.set_index(["perturbation", "metric"])["value"]
    pca = PCA(n_components=5, svd_solver="full").fit(truth.X.astype(np.float64))
    for pert in ("G0", "G1", "G2+G3", "G4"):
        y = prediction.X[(prediction.obs[c.PERTURBATION] == pert).to_numpy()].astype(np.float64)
        x = truth.X[(truth.obs[c.PERTURBATION] == pert).to_numpy()].astype(np.float64)
        y, x = pca.transform(y), pca.transform(x)
        n, m = len(y), len(x)
        energy = 2 * cdist(y, x).mean() - cdist(y, y).sum() / (n * (n - 1))
        energy -= cdist(x, x).sum() / (m * (m - 1))
        # float32 cells, float64 distances: agreement to ~1e-12 relative, 1e-9 is ample
        assert scores[(pert, "pca_energy_distance")] == pytest.approx(energy, rel=1e-9)
        # Sinkhorn: vcbench's float32 log-sum-exp (~1e-7 of the cost scale) and stopping rule
        # against POT's float64 iterations run to 1e-12: 1e-6 relative (2e-7 measured)
        assert scores[(pert, "pca_sinkhorn")] == pytest.approx(
            _pot_sinkhorn_divergence(y, x), rel=1e-6
        )


def test_evaluate_cell_metrics_match_direct_computation() -> None:
    prediction, truth = _cells_pair(2)
    names = ["energy_distance", "de_test_precision", "de_test_recall", "de_test_overlap"]
    scores = evaluate(prediction, truth, metrics=names, max_cells=20, seed=3).set_index(
        ["perturbation", "metric"]
    )
    control = truth.X[truth.obs[c.IS_CONTROL].to_numpy()].astype(np.float64)
    for pert in ("G0", "G2+G3"):
        y = prediction.X[(prediction.obs[c.PERTURBATION] == pert).to_numpy()].astype(np.float64)
        x = truth.X[(truth.obs[c.PERTURBATION] == pert).to_numpy()].astype(np.float64)
        keep = np.sort(np.random.default_rng(3).choice(30, 20, replace=False))
        assert scores.loc[(pert, "energy_distance"), "value"] == pytest.approx(
            shared_energy_distance(y[keep], x[keep])
        )
        sig = [
            stats.false_discovery_control(
                stats.mannwhitneyu(v, control, method="asymptotic", axis=0).pvalue
            )
            < 0.05
            for v in (y, x)
        ]
        both = (sig[0] & sig[1]).sum()
        assert scores.loc[(pert, "de_test_precision"), "value"] == pytest.approx(
            both / sig[0].sum()
        )
        assert scores.loc[(pert, "de_test_recall"), "value"] == pytest.approx(both / sig[1].sum())
        assert scores.loc[(pert, "de_test_overlap"), "value"] == pytest.approx(
            both / (sig[0] | sig[1]).sum()
        )
    assert scores.loc[("G0", "energy_distance"), "note"].startswith(
        "cells subsampled to at most 20"
    )


def test_means_only_prediction_reports_cell_metrics_as_not_computable() -> None:
    prediction, truth = _cells_pair(3)
    means = prediction.to_df().groupby(prediction.obs[c.PERTURBATION].to_numpy()).mean()
    obs = pd.DataFrame({c.CONTEXT: "k", c.PERTURBATION: means.index}, index=means.index)
    mean_prediction = ad.AnnData(means.to_numpy(), obs, pd.DataFrame(index=truth.var_names))
    scores = evaluate(mean_prediction, truth, metrics="full")
    assert set(scores["metric"]) == set(PROFILES["full"])  # nothing dropped
    cell = scores[scores["metric"].isin(["sinkhorn", "energy_distance", "de_test_recall"])]
    assert cell["value"].isna().all() and (cell["note"].str.startswith("not computable")).all()
    full = evaluate(prediction, truth, metrics=["pdcorr", "pds", "rmse"])
    pd.testing.assert_frame_equal(
        scores[scores["metric"].isin(["pdcorr", "rmse", "pds"])].reset_index(drop=True),
        full,
        check_exact=False,
        rtol=1e-6,
    )


def test_backed_prediction_gives_the_same_scores(tmp_path) -> None:
    prediction, truth = _cells_pair(4)
    prediction.write_h5ad(tmp_path / "p.h5ad")
    backed = ad.read_h5ad(tmp_path / "p.h5ad", backed="r")
    metrics = ["pdcorr", "energy_distance", "de_test_overlap", "pca_sinkhorn"]
    # backed reading hands the metrics the very same numbers: bit-identical by promise
    pd.testing.assert_frame_equal(
        evaluate(backed, truth, metrics=metrics),
        evaluate(prediction, truth, metrics=metrics),
        check_exact=True,
    )


def test_threaded_cell_metrics_equal_a_serial_run(monkeypatch) -> None:
    evaluate_module = importlib.import_module("vcbench.metrics.evaluate")  # not the function
    prediction, truth = _cells_pair(5)
    metrics = ["energy_distance", "sinkhorn", "mmd_rbf", "pca_sinkhorn", "de_test_overlap"]
    scores = {}
    for workers in (1, 3):
        monkeypatch.setattr(evaluate_module, "condition_threads", lambda workers=workers: workers)
        scores[workers] = evaluate(prediction, truth, metrics=metrics, max_cells=20)
    pd.testing.assert_frame_equal(scores[3], scores[1], check_exact=True)


def test_prediction_controls_are_ignored_and_retrieval_needs_two_conditions() -> None:
    prediction, truth = _cells_pair(5, perts=("G0",))
    with_controls = ad.concat(
        [prediction, truth[truth.obs[c.IS_CONTROL].to_numpy()]], index_unique="-"
    )
    with_controls.X[-1] += 100.0  # the prediction's own controls must not matter
    scores = evaluate(with_controls, truth, metrics=["pds", "rank_pdcorr", "pdcorr"])
    # the prediction's controls are dropped before any arithmetic: bit-identical by promise
    pd.testing.assert_frame_equal(
        scores,
        evaluate(prediction, truth, metrics=["pds", "rank_pdcorr", "pdcorr"]),
        check_exact=True,
    )
    retrieval = scores[scores["metric"] != "pdcorr"]
    assert retrieval["value"].isna().all()
    assert retrieval["note"].str.contains("at least 2 conditions").all()


def test_pdcorr_systema_uses_the_test_contexts_perturbed_centroid() -> None:
    prediction, truth = _cells_pair(7)
    scores = evaluate(prediction, truth, metrics=["pdcorr_systema"])
    perts = sorted(set(truth.obs.loc[~truth.obs[c.IS_CONTROL], c.PERTURBATION].astype(str)))
    means = {p: truth.X[(truth.obs[c.PERTURBATION] == p).to_numpy()].mean(axis=0) for p in perts}
    s = np.mean(list(means.values()), axis=0)
    y = prediction.X[(prediction.obs[c.PERTURBATION] == "G1").to_numpy()].mean(axis=0)
    value = scores.set_index("perturbation").loc["G1", "value"]
    assert value == pytest.approx(stats.pearsonr(y - s, means["G1"] - s).statistic, rel=1e-5)


# --- aggregate and profiles ----------------------------------------------------------------------


def test_aggregate_counts_nan_and_bootstraps_the_mean() -> None:
    defined = np.random.default_rng(2).normal(size=40)
    values = np.insert(defined, 3, np.nan)
    scores = pd.DataFrame(
        {
            "context": "k",
            "perturbation": [f"p{i}" for i in range(41)],
            "metric": "pdcorr",
            "value": values,
        }
    )
    row = aggregate(scores, n_boot=20_000, seed=1).iloc[0]
    assert row["mean"] == pytest.approx(defined.mean())
    assert row["sd"] == pytest.approx(defined.std(ddof=1))
    assert (row["n"], row["n_nan"]) == (41, 1)
    # scipy's percentile bootstrap with its own random stream: the two 95% limits agree up to
    # Monte Carlo error (~0.03 standard errors each with 20,000 resamples), so 0.1 se
    reference = stats.bootstrap(
        (defined,), np.mean, n_resamples=20_000, method="percentile", random_state=0
    ).confidence_interval
    se = defined.std(ddof=1) / np.sqrt(len(defined))
    assert row["ci_low"] == pytest.approx(reference.low, abs=0.1 * se)
    assert row["ci_high"] == pytest.approx(reference.high, abs=0.1 * se)
    # a metric vcbench does not know (e.g. a user's own column) has no family and no best value
    custom = aggregate(scores.assign(metric="my_metric"), n_boot=10).iloc[0]
    assert custom["family"] == "" and np.isnan(custom["best"])
    assert row["family"] == "correlation" and row["best"] == 1.0
    assert np.isnan(bootstrap_interval(np.array([np.nan]))[0])


def test_profiles() -> None:
    assert len(PROFILES["paper"]) == 13 and set(PROFILES["paper"]) <= set(PROFILES["full"])
    assert "sinkhorn" not in PROFILES["fast"] and "pds" in PROFILES["fast"]
