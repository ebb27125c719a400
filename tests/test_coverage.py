"""Representation coverage per task: the share of test perturbations with a representation, and a
note on the result rows of those without one."""

from __future__ import annotations

import warnings

import anndata as ad
import pytest

from vcbench.data import load_dataset
from vcbench.data.simulate import simulate
from vcbench.knowledge import go_embedding
from vcbench.models import Linear, PerturbedMean
from vcbench.runner.coverage import UNCOVERED_NOTE
from vcbench.runner.task import run_model_timed
from vcbench.scenarios.singles import single_split


def test_coverage_is_the_share_of_test_perturbations_with_a_representation(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv(go_embedding.CACHE_ENV, str(tmp_path / "cache"))
    sim = simulate(
        n_contexts=1, n_genes=60, n_singles=40, n_combinations=0, cells_per_condition=10,
        targets="go", seed=4,
    )  # fmt: skip
    renamed = {t: f"UNKNOWN_{i}" for i, t in enumerate(sim.params["singles"][::4])}
    obs = sim.adata.obs[["perturbation", "cell_type"]].copy()
    obs["perturbation"] = obs["perturbation"].astype(str).replace(renamed)
    raw = ad.AnnData(sim.adata.layers["counts"].copy(), obs=obs, var=sim.adata.var[[]])
    with pytest.warns(UserWarning, match=r"10 unknown: UNKNOWN_0"):
        data = load_dataset(raw, "perturbation", "cell_type", "control")
    split = single_split(data, "single", seed=0)
    test = split.test_conditions["vcb_perturbation"].astype(str)
    unknown = sorted(p for p in test if p.startswith("UNKNOWN_"))
    assert unknown  # the seed puts some renamed targets in the test set
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        scores, timings = run_model_timed(data, split, Linear(), ["pdcorr"])
    assert timings["representation_coverage"] == pytest.approx(1 - len(unknown) / len(test))
    noted = sorted(scores.loc[scores["note"].str.contains(UNCOVERED_NOTE), "perturbation"])
    assert noted == unknown
    # a model without a featuriser reports no coverage
    _, timings = run_model_timed(data, split, PerturbedMean(), ["pdcorr"])
    assert "representation_coverage" not in timings


def test_a_models_own_representation_decides_its_coverage() -> None:
    from vcbench.runner.coverage import uncovered_perturbations

    class GraphModel:  # as GEARS: a target is represented when it is a graph node
        def represents_target(self, target: str) -> bool:
            return target in {"A", "B"}

    share, missing = uncovered_perturbations(GraphModel(), ["A", "A+B", "A+C", "D", "A"])
    assert share == pytest.approx(2 / 4) and missing == ["A+C", "D"]
