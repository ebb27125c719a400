"""The Python API for AnnData users: vcbench.evaluate, vcbench.run, vcbench.distance; models'
get_params/set_params/repr."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

import vcbench
from vcbench.errors import MetricError, ModelError, SpecError
from vcbench.metrics.distributions import GRAM_FLOAT32_TOLERANCE
from vcbench.models import get_model


def _pair(seed: int = 0) -> tuple[ad.AnnData, ad.AnnData]:
    """Raw (non-standard) truth and prediction with obs 'guide' and 'line', control 'NT'."""
    rng = np.random.default_rng(seed)
    labels = ["NT"] * 20 + ["A"] * 10 + ["B"] * 10
    obs = pd.DataFrame({"guide": labels, "line": "L1"}, index=[f"c{i}" for i in range(len(labels))])
    genes = pd.DataFrame(index=[f"g{i}" for i in range(8)])
    truth = ad.AnnData(rng.gamma(2.0, 1.0, (len(labels), 8)).astype(np.float32), obs, genes)
    prediction = ad.AnnData(
        rng.gamma(2.0, 1.0, (len(labels), 8)).astype(np.float32), obs.copy(), genes.copy()
    )
    return truth, prediction


def test_evaluate_takes_raw_anndata_and_paths(tmp_path) -> None:
    truth, prediction = _pair()
    columns_before = list(prediction.obs.columns)
    keys = {"perturbation_key": "guide", "context_key": "line", "control": "NT"}
    scores = vcbench.evaluate(prediction, truth, metrics=["rmse", "mae"], **keys)
    assert list(prediction.obs.columns) == columns_before  # the caller's object is unchanged
    for condition in ("A", "B"):
        y = prediction.X[prediction.obs["guide"] == condition].mean(axis=0)
        x = truth.X[truth.obs["guide"] == condition].mean(axis=0)
        got = scores.set_index(["perturbation", "metric"])["value"]
        assert got[(condition, "rmse")] == pytest.approx(np.sqrt(np.mean((y - x) ** 2)), rel=1e-5)
        assert got[(condition, "mae")] == pytest.approx(np.mean(np.abs(y - x)), rel=1e-5)
    truth.write_h5ad(tmp_path / "t.h5ad")
    prediction.write_h5ad(tmp_path / "p.h5ad")
    from_files = vcbench.evaluate(
        tmp_path / "p.h5ad", str(tmp_path / "t.h5ad"), metrics=["rmse", "mae"], **keys
    )
    pd.testing.assert_frame_equal(from_files, scores)


def test_evaluate_errors_name_the_python_parameter() -> None:
    truth, prediction = _pair()
    with pytest.raises(Exception, match="control="):
        vcbench.evaluate(prediction, truth, perturbation_key="guide", context_key="line")


def test_run_takes_a_dict_and_returns_the_results(tmp_path) -> None:
    spec = {
        "output": str(tmp_path / "out"),
        "metrics": ["rmse"],
        "calibration": False,
        "datasets": [{"name": "demo", "source": "demo"}],
        "scenarios": [{"name": "perturbation", "variant": "single", "seeds": [0, 1]}],
        "models": [{"name": "no_change"}, {"name": "perturbed_mean"}],
    }
    results = vcbench.run(spec, models=["perturbed_mean"], seeds=[0])
    assert set(results["model"]) == {"perturbed_mean"} and set(results["seed"]) == {0}
    assert set(results["metric"]) == {"rmse"} and results["value"].notna().all()
    with pytest.raises(SpecError, match=r"unknown model 'no_chnge' \(did you mean 'no_change'\?\)"):
        vcbench.run({**spec, "models": [{"name": "no_chnge"}]})


def _groups() -> ad.AnnData:
    rng = np.random.default_rng(1)
    x = np.vstack([rng.normal(shift, 1.0, (30, 5)) for shift in (0.0, 0.5, 2.0)])
    obs = pd.DataFrame(
        {"group": np.repeat(["a", "b", "c"], 30)}, index=[f"c{i}" for i in range(90)]
    )
    adata = ad.AnnData(x.astype(np.float32), obs)
    adata.obsm["X_emb"] = x[:, :2]
    return adata


def _energy(x: np.ndarray, y: np.ndarray) -> float:
    n, m = len(x), len(y)
    return (
        2 * cdist(x, y).mean()
        - cdist(x, x).sum() / (n * (n - 1))
        - cdist(y, y).sum() / (m * (m - 1))
    )


def test_distance_over_obs_groups_matches_an_independent_energy_distance() -> None:
    adata = _groups()
    table = vcbench.distance(adata, groupby="group", metric="energy_distance", gram="float64")
    x = adata.X.astype(np.float64)
    parts = {g: x[adata.obs["group"].to_numpy() == g] for g in "abc"}
    assert table.loc["a", "c"] == pytest.approx(_energy(parts["a"], parts["c"]), rel=1e-9)
    # the default float32 products: within the stated tolerance of the terms' scale, 2·E‖a − c‖
    default = vcbench.distance(adata, groupby="group", metric="energy_distance")
    scale = 2 * cdist(parts["a"], parts["c"]).mean()
    assert abs(default.loc["a", "c"] - table.loc["a", "c"]) <= GRAM_FLOAT32_TOLERANCE * scale
    assert default.loc["a", "c"] != table.loc["a", "c"]
    assert table.loc["c", "a"] == table.loc["a", "c"] and table.loc["b", "b"] == 0
    assert table.loc["a", "b"] < table.loc["a", "c"]
    to_a = vcbench.distance(adata, "group", contrast="a", obsm_key="X_emb", gram="float64")
    emb = adata.obsm["X_emb"]
    expected = _energy(emb[adata.obs["group"] == "c"], emb[adata.obs["group"] == "a"])
    assert to_a["c"] == pytest.approx(expected, rel=1e-9) and to_a["a"] == pytest.approx(
        0, abs=1e-9
    )
    for metric in ("sinkhorn", "mmd_rbf"):
        values = vcbench.distance(adata, "group", metric=metric, contrast="a")
        assert values["b"] < values["c"]


def test_distance_errors_suggest_the_name() -> None:
    adata = _groups()
    with pytest.raises(MetricError, match=r"groupby='grop'.*did you mean 'group'"):
        vcbench.distance(adata, groupby="grop")
    with pytest.raises(MetricError, match=r"did you mean 'energy_distance'"):
        vcbench.distance(adata, groupby="group", metric="energy_distanc")


def test_models_follow_scikit_learns_params_convention() -> None:
    model = get_model("linear", ridge=0.5)
    assert repr(model) == "Linear(ridge=0.5)"
    assert model.get_params()["ridge"] == 0.5
    assert model.set_params(ridge=2.0, seed=3) is model
    assert model.get_params()["ridge"] == 2.0 and repr(model) == "Linear(ridge=2.0, seed=3)"
    assert repr(get_model("no_change")) == "NoChange()"
    clone = type(model)(**model.get_params())
    assert clone.get_params() == model.get_params()
    with pytest.raises(ModelError, match=r"no parameter 'ridg' \(did you mean 'ridge'\?\)"):
        model.set_params(ridg=1.0)
