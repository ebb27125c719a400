"""pdcorr_systema's reference is the test context's own perturbed centroid (Systema): predictions
that are the same for every condition score about 0, the true effects score 1."""

from __future__ import annotations

import numpy as np
import pytest

from vcbench.data.simulate import simulate
from vcbench.datasets import demo
from vcbench.metrics import evaluate
from vcbench.models import get_model
from vcbench.runner.replicate import collapse_prediction, replicate_scores
from vcbench.runner.task import run_model, truth_for
from vcbench.scenarios import combo_split, context_split


@pytest.fixture(scope="module")
def task():
    adata = demo()
    return adata, context_split(adata, seed=0)


@pytest.mark.parametrize("name", ["no_change", "perturbed_mean"])
def test_condition_blind_predictions_score_about_zero(task, name) -> None:
    adata, split = task
    scores = run_model(adata, split, get_model(name), ["pdcorr_systema"])
    assert scores["value"].notna().all()
    assert abs(scores["value"].mean()) < 0.15


def test_true_effects_score_one_and_a_noisy_true_effect_scores_high(task) -> None:
    adata, split = task
    truth = truth_for(adata, split)
    exact = evaluate(collapse_prediction(truth), truth, metrics=["pdcorr_systema"])
    np.testing.assert_allclose(exact["value"], 1.0)
    sim = simulate(n_contexts=1, n_genes=60, n_singles=10, n_combinations=6, effect_scale=0.6)
    replicate = replicate_scores(  # the true effects plus sampling noise
        sim.adata, combo_split(sim.adata, unseen_fraction=0.3, seed=0), ["pdcorr_systema"]
    )
    assert replicate["value"].mean() > 0.7
