"""Doses are part of the condition (issue #15, item 3; docs/validity.md).

A tiny hand-built AnnData: one compound at doses 1 and 10 whose high dose moves ten genes five
times as far as the low dose and twenty more genes besides. A dose-blind prediction (the compound's
pooled cells for both doses) must score clearly worse than a dose-aware one, and evaluate must give
one row per (context, perturbation, dose) and metric.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from vcbench.data import contract as c
from vcbench.errors import MetricError
from vcbench.metrics import evaluate
from vcbench.models.baselines import Additive, PerturbationMean
from vcbench.runner.task import queries_for, run_model
from vcbench.scenarios import context_split

N_GENES, N_CELLS = 60, 40
LOW, HIGH = "1", "10"


def _effect(dose: str) -> np.ndarray:
    effect = np.zeros(N_GENES)
    effect[:10] = 0.5 if dose == LOW else 2.5  # fivefold on the shared genes
    if dose == HIGH:
        effect[10:30] = 1.5  # and twenty genes that only the high dose moves
    return effect


def _dosed_data(contexts: tuple[str, ...] = ("A",), seed: int = 0) -> ad.AnnData:
    """Controls and the compound ``drugA`` at two doses (plus ``drugB`` at dose 1) per context."""
    rng = np.random.default_rng(seed)
    blocks, rows = [], []
    for k, context in enumerate(contexts):
        base = 2.0 + 0.3 * k + np.random.default_rng(k).normal(0, 0.2, N_GENES)  # fixed per k
        for label, dose in (("control", ""), ("drugA", LOW), ("drugA", HIGH), ("drugB", LOW)):
            shift = 0.0 if label == "control" else _effect(dose)
            if label == "drugB":
                shift = np.roll(_effect(LOW), 40)
            blocks.append(np.clip(base + shift + rng.normal(0, 0.3, (N_CELLS, N_GENES)), 0, None))
            rows += [(context, label, dose)] * N_CELLS
    obs = pd.DataFrame(rows, columns=[c.CONTEXT, c.PERTURBATION, c.DOSE])
    obs[c.IS_CONTROL] = obs[c.PERTURBATION] == c.CONTROL
    obs[c.TARGETS] = np.where(obs[c.IS_CONTROL], "", obs[c.PERTURBATION])
    obs[c.N_TARGETS] = (~obs[c.IS_CONTROL]).astype(int)
    obs[c.DATASET] = "toy"
    for key in (c.CONTEXT, c.PERTURBATION, c.DATASET):
        obs[key] = obs[key].astype("category")
    obs.index = [f"cell{i}" for i in range(len(obs))]
    var = pd.DataFrame(index=[f"g{i}" for i in range(N_GENES)])
    return ad.AnnData(X=np.vstack(blocks).astype(np.float32), obs=obs, var=var)


def _prediction(truth: ad.AnnData, blind: bool, seed: int = 1) -> ad.AnnData:
    """Per (perturbation, dose) of the truth, ``N_CELLS`` fresh cells: of that dose (dose-aware) or
    of the compound at either dose, pooled (dose-blind)."""
    fresh = _dosed_data(seed=seed)
    perturbed = fresh[~fresh.obs[c.IS_CONTROL].to_numpy()]
    blocks, obs = [], []
    for (label, dose), _ in truth.obs[~truth.obs[c.IS_CONTROL]].groupby(
        [c.PERTURBATION, c.DOSE], observed=True
    ):
        same = perturbed.obs[c.PERTURBATION].astype(str) == label
        if not blind:
            same &= perturbed.obs[c.DOSE] == dose
        x = perturbed[same.to_numpy()].X
        x = x[np.random.default_rng(0).choice(x.shape[0], N_CELLS, replace=False)]
        blocks.append(x)
        obs.append(
            pd.DataFrame({c.CONTEXT: "A", c.PERTURBATION: label, c.DOSE: dose}, [0] * N_CELLS)
        )
    frame = pd.concat(obs, ignore_index=True)
    frame.index = frame.index.astype(str)
    return ad.AnnData(X=np.vstack(blocks), obs=frame, var=truth.var.copy())


def _by_condition(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.pivot_table(index=["perturbation", "dose"], columns="metric", values="value")


def test_dose_blind_prediction_scores_clearly_worse() -> None:
    truth = _dosed_data()
    metrics = ["pdcorr", "rmse", "de_test_overlap"]
    aware = evaluate(_prediction(truth, blind=False), truth, metrics=metrics, max_cells=None)
    blind = evaluate(_prediction(truth, blind=True), truth, metrics=metrics, max_cells=None)
    a, b = _by_condition(aware), _by_condition(blind)
    low, high = ("drugA", LOW), ("drugA", HIGH)
    assert a.loc[[low, high], "pdcorr"].min() > 0.9
    assert b.loc[low, "pdcorr"] < a.loc[low, "pdcorr"] - 0.1  # the low dose gets the high's genes
    assert (b.loc[[low, high], "rmse"] > 5 * a.loc[[low, high], "rmse"]).all()
    assert b.loc[low, "de_test_overlap"] < a.loc[low, "de_test_overlap"] - 0.3
    # drugB has one dose: dose-blind and dose-aware predictions are the same cells
    pd.testing.assert_series_equal(a.loc[("drugB", LOW)], b.loc[("drugB", LOW)])
    # the rows: one per (context, perturbation, dose) and metric, the dose in its own column
    conditions = truth.obs[~truth.obs[c.IS_CONTROL]][c.condition_columns(truth.obs)]
    n_conditions = len(conditions.astype(str).drop_duplicates())
    assert n_conditions == 3
    assert len(aware) == n_conditions * len(metrics)
    assert set(map(tuple, aware[["perturbation", "dose"]].drop_duplicates().to_numpy())) == {
        ("drugA", LOW),
        ("drugA", HIGH),
        ("drugB", LOW),
    }


def test_a_prediction_without_doses_is_refused_where_the_dose_is_ambiguous() -> None:
    truth = _dosed_data()
    prediction = _prediction(truth, blind=False)
    del prediction.obs[c.DOSE]
    with pytest.raises(MetricError, match=r"several doses.*vcb_dose"):
        evaluate(prediction, truth, metrics=["rmse"])
    # one dose per (context, perturbation): the prediction's cells take the truth's dose
    single = truth[(truth.obs[c.DOSE] != LOW).to_numpy() | truth.obs[c.IS_CONTROL].to_numpy()]
    only_high = prediction[(prediction.obs[c.PERTURBATION] == "drugA").to_numpy()]
    scores = evaluate(only_high[: N_CELLS * 2], single.copy(), metrics=["rmse"])
    assert scores[["perturbation", "dose"]].to_numpy().tolist() == [["drugA", HIGH]]


def test_split_conditions_and_queries_carry_the_dose() -> None:
    data = _dosed_data(("A", "B", "C"))
    split = context_split(data, "random", test_fraction=0.34, seed=0)
    assert c.DOSE in split.test_conditions.columns
    assert len(split.test_conditions) == 3  # drugA at 1 and 10, drugB at 1 in the held-out context
    queries = queries_for(data, split)
    assert queries.conditions.columns.tolist() == [c.CONTEXT, c.PERTURBATION, c.DOSE]


@pytest.mark.parametrize("model", [PerturbationMean, Additive])
def test_baselines_learn_one_effect_per_dose(model: type) -> None:
    """Trained on contexts B and C, the baseline's prediction for the held-out context A at each
    dose is A's controls plus that dose's mean training effect (computed here with numpy)."""
    data = _dosed_data(("A", "B", "C"))
    split = context_split(data, "leave_one_out", fold=0, seed=0)
    assert split.info["test_contexts"] == ["A"]
    fitted = model(max_cells=None).fit(data[split.mask(data, "train")].copy())
    prediction = fitted.predict(queries_for(data, split))
    assert c.DOSE in prediction.obs.columns
    x, obs = data.X, data.obs
    for dose in (LOW, HIGH):
        effects = []
        for context in ("B", "C"):
            here = (obs[c.CONTEXT] == context).to_numpy()
            treated = (
                here
                & (obs[c.PERTURBATION] == "drugA").to_numpy()
                & (obs[c.DOSE] == dose).to_numpy()
            )
            effects.append(x[treated].mean(0) - x[here & obs[c.IS_CONTROL].to_numpy()].mean(0))
        controls = x[((obs[c.CONTEXT] == "A") & obs[c.IS_CONTROL]).to_numpy()]
        expected = np.clip(controls + np.mean(effects, axis=0), 0, None).mean(0)
        rows = (
            (prediction.obs[c.PERTURBATION] == "drugA") & (prediction.obs[c.DOSE] == dose)
        ).to_numpy()
        np.testing.assert_allclose(prediction.X[rows].mean(0), expected, atol=1e-5)


def test_a_dose_aware_baseline_beats_its_dose_blind_self_end_to_end() -> None:
    data = _dosed_data(("A", "B", "C"))
    split = context_split(data, "leave_one_out", fold=0, seed=0)
    metrics = ["pdcorr", "rmse"]
    aware = run_model(data, split, PerturbationMean(), metrics)
    assert aware["dose"].tolist().count(HIGH) == len(metrics)
    assert not aware["split_category"].isna().any()
    train = data[split.mask(data, "train")].copy()
    del train.obs[c.DOSE]  # the same training cells, doses pooled: a dose-blind baseline
    prediction = PerturbationMean().fit(train).predict(queries_for(data, split))
    truth = data[split.mask(data, "test") | (data.obs[c.CONTEXT] == "A").to_numpy()].copy()
    blind = evaluate(prediction, truth, metrics=metrics, conditions=split.test_conditions)
    drug_a = lambda s: s[s["perturbation"] == "drugA"].groupby("metric")["value"].mean()  # noqa: E731
    assert drug_a(blind)["rmse"] > 2 * drug_a(aware)["rmse"]
    assert drug_a(blind)["pdcorr"] < drug_a(aware)["pdcorr"]


@pytest.mark.parametrize("name", ["linear_additive", "cpa"])
def test_learned_models_name_each_predicted_cells_dose(name: str) -> None:
    """Models that build their own cells (torch simple, deep) copy the query's dose into obs, so
    a task on data with two doses of a compound is scored per dose, not refused."""
    pytest.importorskip("torch")
    from vcbench.models import get_model

    data = _dosed_data(("A", "B", "C"))
    split = context_split(data, "leave_one_out", fold=0, seed=0)
    model = get_model(name, n_epochs=2, n_threads=1, max_cells=20)
    scores = run_model(data, split, model, ["rmse"])
    assert sorted(map(tuple, scores[["perturbation", "dose"]].to_numpy())) == [
        ("drugA", LOW),
        ("drugA", HIGH),
        ("drugB", LOW),
    ]


def test_the_analysis_counts_each_dose_as_a_condition() -> None:
    """Calibration controls and baselines on dosed data: the leaderboard's ``n`` is the number of
    distinct (context, perturbation, dose) test conditions over the seeds."""
    from vcbench.analysis.leaderboard import leaderboard
    from vcbench.models import get_model
    from vcbench.runner.replicate import SCORED_CONTROLS

    data = _dosed_data(tuple("ABCDE"))
    metrics = ["pdcorr", "rmse"]
    frames, conditions = [], []
    for seed in range(2):
        split = context_split(data, "random", test_fraction=0.4, seed=seed)
        conditions.append(split.test_conditions[c.condition_columns(split.test_conditions)])
        for name in ("perturbed_mean", "no_change", "perturbation_mean"):
            scores = run_model(data, split, get_model(name), metrics, held_out_seed=seed)
            frames.append(scores.assign(model=name, seed=seed))
        for name, score in SCORED_CONTROLS.items():
            frames.append(score(data, split, metrics, seed).assign(model=name, seed=seed))
    results = pd.concat(frames, ignore_index=True).assign(
        dataset="toy", scenario="context", variant="random"
    )
    n_conditions = len(pd.concat(conditions).astype(str).drop_duplicates())
    board = leaderboard(results)
    rmse = board[(board["split_category"] == "all") & (board["metric"] == "rmse")]
    assert n_conditions == 3 * results["context"].nunique()
    assert (rmse["n"] == n_conditions).all()


def test_conditions_and_truth_may_disagree_on_having_doses() -> None:
    truth = _dosed_data()
    prediction = _prediction(truth, blind=False)
    conditions = truth.obs[~truth.obs[c.IS_CONTROL]][[c.CONTEXT, c.PERTURBATION]].drop_duplicates()
    # conditions without doses on dosed data: every dose of each named condition is scored
    assert len(evaluate(prediction, truth, metrics=["rmse"], conditions=conditions)) == 3
    # conditions with doses, truth without: the truth's (context, perturbation) key is used
    plain, pooled = truth.copy(), prediction.copy()
    del plain.obs[c.DOSE], pooled.obs[c.DOSE]
    with_doses = truth.obs[~truth.obs[c.IS_CONTROL]][c.condition_columns(truth.obs)]
    scores = evaluate(pooled, plain, metrics=["rmse"], conditions=with_doses.drop_duplicates())
    assert "dose" not in scores and len(scores) == 2
