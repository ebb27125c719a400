"""Metric definitions against independent computations, and evaluate's input checks."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vcbench.data import contract as c
from vcbench.errors import MetricError
from vcbench.metrics import evaluate
from vcbench.metrics.definitions import ContextArrays, pdcorr, pds, rmse


def _arrays(
    rng: np.random.Generator, p: int = 6, g: int = 30, with_targets: bool = True
) -> ContextArrays:
    mask = np.zeros((p, g), dtype=bool)
    if with_targets:
        mask[np.arange(p), np.arange(p)] = True  # condition i targets gene i
    return ContextArrays(
        predicted=rng.normal(size=(p, g)),
        observed=rng.normal(size=(p, g)),
        control=rng.normal(size=g),
        target_mask=mask,
    )


def test_rmse_and_pdcorr_match_scipy() -> None:
    arrays = _arrays(np.random.default_rng(1))
    for i in range(arrays.predicted.shape[0]):
        y, x, x0 = arrays.predicted[i], arrays.observed[i], arrays.control
        assert rmse(arrays)[i] == pytest.approx(np.sqrt(np.mean((y - x) ** 2)))
        assert pdcorr(arrays)[i] == pytest.approx(stats.pearsonr(y - x0, x - x0).statistic)


def test_pdcorr_is_nan_for_a_constant_delta() -> None:
    arrays = _arrays(np.random.default_rng(2))
    arrays.predicted[0] = arrays.control + 0.3  # constant effect
    assert np.isnan(pdcorr(arrays)[0])
    assert np.isfinite(pdcorr(arrays)[1:]).all()


def _pds_brute_force(arrays: ContextArrays) -> np.ndarray:
    e, d = arrays.predicted - arrays.control, arrays.observed - arrays.control
    p = len(e)
    out = np.empty(p)
    for i in range(p):
        keep = ~arrays.target_mask[i]
        own = np.abs(e[i, keep] - d[i, keep]).sum()
        closer = ties = 0
        for q in range(p):
            if q == i:
                continue
            dist = np.abs(e[i, keep] - d[q, keep]).sum()
            closer += dist < own
            ties += dist == own
        out[i] = 1 - (closer + 0.5 * ties) / (p - 1)
    return out


def test_pds_matches_a_brute_force_double_loop() -> None:
    arrays = _arrays(np.random.default_rng(3), p=9, g=40)
    np.testing.assert_allclose(pds(arrays), _pds_brute_force(arrays))


def test_pds_hand_worked_example_with_ties_and_targets() -> None:
    # 3 conditions, 3 genes, zero controls so deltas are the means. Condition 0 targets gene 0.
    observed = np.array([[9.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    predicted = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 2.0, 0.0]])
    mask = np.zeros((3, 3), dtype=bool)
    mask[0, 0] = True
    arrays = ContextArrays(predicted, observed, np.zeros(3), mask)
    # row 0 (gene 0 excluded): distances to d_0, d_1, d_2 = 0, 0, 3 -> one tie -> 1 - 0.5/2 = 0.75
    # row 1 (all genes): to d_0 = 9, d_1 = 0, d_2 = 3 -> none closer -> 1
    # row 2: own = |2-0| + |0-2| = 4; to d_0 = 9+1+0 = 10, to d_1 = 0+1+0 = 1 -> one closer -> 0.5
    np.testing.assert_allclose(pds(arrays), [0.75, 1.0, 0.5])


def test_pds_mode_collapse_is_random_and_single_condition_is_nan() -> None:
    rng = np.random.default_rng(4)
    arrays = _arrays(rng, p=8, with_targets=False)
    collapsed = ContextArrays(
        np.tile(arrays.predicted[0], (8, 1)), arrays.observed, arrays.control, arrays.target_mask
    )
    assert pds(collapsed).mean() == pytest.approx(0.5)
    single = ContextArrays(
        arrays.predicted[:1], arrays.observed[:1], arrays.control, arrays.target_mask[:1]
    )
    assert np.isnan(pds(single)).all()


# --- evaluate ----------------------------------------------------------------------------------


def _standard(
    x: np.ndarray, contexts: list[str], perturbations: list[str], genes: list[str]
) -> ad.AnnData:
    obs = pd.DataFrame({c.CONTEXT: contexts, c.PERTURBATION: perturbations})
    obs[c.IS_CONTROL] = obs[c.PERTURBATION] == c.CONTROL
    obs.index = [f"c{i}" for i in range(len(obs))]
    return ad.AnnData(X=x.astype(np.float64), obs=obs, var=pd.DataFrame(index=genes))


@pytest.fixture
def truth_and_prediction() -> tuple[ad.AnnData, ad.AnnData]:
    rng = np.random.default_rng(5)
    genes = ["A", "B", "g2", "g3", "g4"]
    labels = ["control"] * 4 + ["A"] * 3 + ["B"] * 3 + ["A+B"] * 3
    truth = _standard(rng.random((13, 5)), ["k"] * 13, labels, genes)
    pred_labels = ["A"] * 2 + ["B"] * 2 + ["A+B"] * 2
    prediction = _standard(rng.random((6, 5)), ["k"] * 6, pred_labels, genes)
    return truth, prediction


def test_evaluate_matches_numpy_on_means(truth_and_prediction) -> None:
    truth, prediction = truth_and_prediction
    scores = evaluate(prediction, truth, metrics=["rmse", "pdcorr", "pds"])
    x0 = truth.X[:4].mean(axis=0)
    x = {p: truth.X[truth.obs[c.PERTURBATION] == p].mean(axis=0) for p in ["A", "A+B", "B"]}
    y = {
        p: prediction.X[prediction.obs[c.PERTURBATION] == p].mean(axis=0) for p in ["A", "A+B", "B"]
    }
    for p in x:
        row = scores[scores["perturbation"] == p].set_index("metric")["value"]
        assert row["rmse"] == pytest.approx(np.sqrt(np.mean((y[p] - x[p]) ** 2)))
        assert row["pdcorr"] == pytest.approx(np.corrcoef(y[p] - x0, x[p] - x0)[0, 1])
    assert set(scores.columns) == {"context", "perturbation", "metric", "value", "note"}
    assert (scores["note"] == "").all()
    assert len(scores) == 9


def test_evaluate_aligns_gene_order(truth_and_prediction) -> None:
    truth, prediction = truth_and_prediction
    reordered = prediction[:, prediction.var_names[::-1]].copy()
    # reordering the genes reorders every sum over genes, so the scores agree to float64
    # rounding of sums of ~10 terms (1e-12 relative), not bit for bit
    pd.testing.assert_frame_equal(
        evaluate(reordered, truth), evaluate(prediction, truth), check_exact=False, rtol=1e-12
    )


def test_evaluate_error_gene_mismatch_names_genes(truth_and_prediction) -> None:
    truth, prediction = truth_and_prediction
    prediction.var_names = ["A", "B", "g2", "g3", "XYZ"]
    with pytest.raises(
        MetricError, match=r"different genes: 1 only in the truth \(e.g. \['g4'\]\).*\['XYZ'\]"
    ):
        evaluate(prediction, truth)


def test_evaluate_error_missing_and_extra_conditions(truth_and_prediction) -> None:
    truth, prediction = truth_and_prediction
    prediction.obs[c.PERTURBATION] = ["A", "A", "B", "B", "C", "C"]
    with pytest.raises(MetricError, match=r"missing \[\('k', 'A\+B'\)\].*extra \[\('k', 'C'\)\]"):
        evaluate(prediction, truth)


def test_evaluate_error_nan_prediction(truth_and_prediction) -> None:
    truth, prediction = truth_and_prediction
    prediction.X[1, 2] = np.nan
    with pytest.raises(MetricError, match=r"1 NaN or infinite values"):
        evaluate(prediction, truth)


def test_evaluate_error_context_without_controls(truth_and_prediction) -> None:
    truth, prediction = truth_and_prediction
    truth.obs[c.CONTEXT] = ["other"] * 4 + ["k"] * 9
    with pytest.raises(MetricError, match=r"Context 'k' has no real control cells"):
        evaluate(prediction, truth)


def test_evaluate_error_unknown_metric(truth_and_prediction) -> None:
    truth, prediction = truth_and_prediction
    with pytest.raises(MetricError, match=r"Unknown metric\(s\) \['nope'\]"):
        evaluate(prediction, truth, metrics=["rmse", "nope"])


def test_pdcorr_is_nan_for_a_delta_constant_up_to_float32_rounding() -> None:
    rng = np.random.default_rng(6)
    arrays = _arrays(rng)
    control = (rng.random(30) * 5).astype(np.float32).astype(np.float64)
    shifted = (control + np.float32(0.3)).astype(np.float32).astype(np.float64)
    collapsed = ContextArrays(
        np.tile(control, (6, 1)), arrays.observed, control, arrays.target_mask
    )
    assert np.isnan(pdcorr(collapsed)).all()  # no change at all
    constant = ContextArrays(np.tile(shifted, (6, 1)), arrays.observed, control, arrays.target_mask)
    assert np.isnan(pdcorr(constant)).all()  # a constant shift, stored in float32
