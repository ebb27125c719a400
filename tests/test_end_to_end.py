"""A benchmark on the bundled demo, checked against an independent numpy computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vcbench.data import contract as c
from vcbench.datasets import demo
from vcbench.runner import parse_spec, run_benchmark
from vcbench.scenarios import combo_split

SPEC = """
output: {out}
metrics: [rmse, pdcorr, pds]
calibration: false
datasets: [{{name: demo, source: demo}}]
scenarios: [{{name: perturbation, variant: combo, options: {{context: k562}}, seeds: [0]}}]
models: [{{name: no_change}}, {{name: perturbed_mean}}]
"""


def run_demo(out, force: bool = False):
    return run_benchmark(parse_spec(SPEC.format(out=out)), force=force)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    return out, run_demo(out)


def _dense(x) -> np.ndarray:
    return x.toarray() if hasattr(x, "toarray") else np.asarray(x)


def _independent_scores(seed: int) -> pd.DataFrame:
    """rmse, pdcorr and pds of both baselines, from the split's cell assignment with plain numpy."""
    adata = demo()
    split = combo_split(adata, "k562", seed=seed)
    x = _dense(adata.X)
    obs = adata.obs
    genes = list(adata.var_names)
    k562 = (obs[c.CONTEXT] == "k562").to_numpy()
    controls = x[k562 & obs[c.IS_CONTROL].to_numpy()]
    x0 = controls.mean(axis=0)
    train = (split.assignment.reindex(obs.index) == "train").to_numpy()
    pert_mean = x[train & ~obs[c.IS_CONTROL].to_numpy() & k562].mean(axis=0)
    # perturbed_mean shifts the control cells to that mean and clips at 0 (docs/validity.md)
    pert_mean = np.maximum(controls + (pert_mean - x0), 0).mean(axis=0)
    labels = sorted(split.test_conditions[c.PERTURBATION])
    truth = np.array([x[(obs[c.PERTURBATION] == p).to_numpy() & k562].mean(axis=0) for p in labels])
    rows = []
    for model, y_single in (("no_change", x0), ("perturbed_mean", pert_mean)):
        y = np.tile(y_single, (len(labels), 1))
        e, d = y - x0, truth - x0
        for i, label in enumerate(labels):
            keep = np.array([g not in label.split("+") for g in genes])
            own = np.abs(e[i, keep] - d[i, keep]).sum()
            others = [np.abs(e[i, keep] - d[q, keep]).sum() for q in range(len(labels)) if q != i]
            closer = sum(o < own for o in others) + 0.5 * sum(o == own for o in others)
            pdcorr = (
                np.nan
                if np.allclose(e[i], e[i].mean(), atol=1e-9)
                else np.corrcoef(e[i], d[i])[0, 1]
            )
            rows += [
                (model, label, "rmse", np.sqrt(np.mean((y[i] - truth[i]) ** 2))),
                (model, label, "pdcorr", pdcorr),
                (model, label, "pds", 1 - closer / (len(labels) - 1)),
            ]
    return pd.DataFrame(rows, columns=["model", "perturbation", "metric", "expected"])


def test_results_files_exist_and_both_baselines_are_scored(run) -> None:
    out, _ = run
    for name in ("results.parquet", "summary.parquet", "summary.csv", "records.parquet"):
        assert (out / name).exists()
    results = pd.read_parquet(out / "results.parquet")
    assert set(results["model"]) == {"no_change", "perturbed_mean"}
    assert set(results["metric"]) == {"rmse", "pdcorr", "pds"}
    assert set(results["split_category"]) <= {
        "single_unseen",
        "combo_unseen2",
        "combo_unseen1",
        "combo_unseen0",
    }
    # every value is finite, except PDCorr of no_change: its predicted effect is zero, a constant
    # vector, for which docs/metrics.md defines the correlation as undefined (NaN)
    undefined = (results["model"] == "no_change") & (results["metric"] == "pdcorr")
    assert np.isfinite(results.loc[~undefined, "value"]).all()
    assert results.loc[undefined, "value"].isna().all()


def test_numbers_equal_an_independent_numpy_computation(run) -> None:
    _, result = run
    merged = result.results.merge(
        _independent_scores(seed=0), on=["model", "perturbation", "metric"], validate="one_to_one"
    )
    assert len(merged) == len(result.results) == 2 * 3 * 19
    np.testing.assert_allclose(
        merged["value"], merged["expected"], rtol=1e-9, atol=1e-12, equal_nan=True
    )


def test_rerun_reuses_finished_models_and_force_recomputes(run) -> None:
    out, first = run
    again = run_demo(out)
    assert again.n_reused == again.n_tasks == 2
    pd.testing.assert_frame_equal(again.results, first.results, check_exact=True)
    forced = run_demo(out, force=True)
    assert forced.n_reused == 0
    pd.testing.assert_frame_equal(forced.results, first.results, check_exact=True)
    assert not list(out.rglob("*.tmp"))  # atomic writes leave no temporary files
