"""Analysis functions on small hand-made result tables with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vcbench import analysis as an
from vcbench.analysis.common import AnalysisError, NotAvailable

COLUMNS = [
    "dataset",
    "scenario",
    "variant",
    "seed",
    "model",
    "context",
    "perturbation",
    "split_category",
    "metric",
    "value",
]


def table(
    rows: list[tuple], scenario: str = "perturbation", variant: str = "combo"
) -> pd.DataFrame:
    """Rows of (seed, model, perturbation, split_category, metric, value) in one task."""
    frame = pd.DataFrame(
        rows, columns=["seed", "model", "perturbation", "split_category", "metric", "value"]
    )
    frame.insert(0, "dataset", "d")
    frame.insert(1, "scenario", scenario)
    frame.insert(2, "variant", variant)
    frame.insert(5, "context", "k")
    return frame[COLUMNS]


def one(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for key, value in where.items():
        mask &= (frame[key] == value).to_numpy()
    assert mask.sum() == 1, frame[mask]
    return frame[mask].iloc[0]


# --- leaderboard, agreement, guide: tests/test_ranking_rules.py -------------------------------


# --- calibration -------------------------------------------------------------------------------


def calibration_rows() -> list[tuple]:
    rows = []
    # rmse (lower is better): b = 1.0, r = 0.2 in both seeds
    # seed 0: u = 0.6 -> (0.6 - 1) / (0.2 - 1) = 0.5; seed 1: u = 0.2 -> 1.0
    for seed, u in ((0, 0.6), (1, 0.2)):
        for p in ("p1", "p2"):
            rows += [
                (seed, "m", p, "c", "rmse", u),
                (seed, "perturbed_mean", p, "c", "rmse", 1.0),
                (seed, "technical_replicate", p, "c", "rmse", 0.2),
            ]
    # pdcorr: b = 0.2, r = 0.6; u = 0.0 on p1 and 0.8 on p2 -> mean 0.4 -> 0.5; the condition p3
    # where the replicate is NaN is left out of all three means
    rows += [
        (0, "m", "p1", "c", "pdcorr", 0.0),
        (0, "m", "p2", "c", "pdcorr", 0.8),
        (0, "m", "p3", "c", "pdcorr", 9.0),
        (0, "perturbed_mean", "p1", "c", "pdcorr", 0.2),
        (0, "perturbed_mean", "p2", "c", "pdcorr", 0.2),
        (0, "perturbed_mean", "p3", "c", "pdcorr", 0.2),
        (0, "technical_replicate", "p1", "c", "pdcorr", 0.6),
        (0, "technical_replicate", "p2", "c", "pdcorr", 0.6),
        (0, "technical_replicate", "p3", "c", "pdcorr", np.nan),
        # pds: r = b, so the score is undefined
        (0, "m", "p1", "c", "pds", 0.7),
        (0, "perturbed_mean", "p1", "c", "pds", 0.5),
        (0, "technical_replicate", "p1", "c", "pds", 0.5),
    ]
    return rows


def test_calibrated_scores_definition() -> None:
    scores = an.calibrated_scores(table(calibration_rows()))
    assert set(scores["model"]) == {"m"}  # the controls are not listed
    rmse = one(scores, metric="rmse", split_category="all")
    assert rmse["score"] == pytest.approx(0.75)  # mean over seeds of 0.5 and 1.0
    assert rmse["score_sd"] == pytest.approx(np.std([0.5, 1.0], ddof=1))
    assert rmse["n_seeds"] == 2
    assert one(scores, metric="pdcorr", split_category="all")["score"] == pytest.approx(0.5)
    assert np.isnan(one(scores, metric="pds", split_category="all")["score"])


def test_calibrated_scores_are_not_clipped() -> None:
    rows = [
        (0, "m", "p1", "c", "rmse", 1.4),  # worse than the mean baseline: (1.4 - 1) / (0.2 - 1)
        (0, "perturbed_mean", "p1", "c", "rmse", 1.0),
        (0, "technical_replicate", "p1", "c", "rmse", 0.2),
        (0, "m", "p1", "c", "pdcorr", 0.8),  # better than the replicate: (0.8 - 0.2) / (0.6 - 0.2)
        (0, "perturbed_mean", "p1", "c", "pdcorr", 0.2),
        (0, "technical_replicate", "p1", "c", "pdcorr", 0.6),
    ]
    scores = an.calibrated_scores(table(rows))
    assert one(scores, metric="rmse", split_category="all")["score"] == pytest.approx(-0.5)
    assert one(scores, metric="pdcorr", split_category="all")["score"] == pytest.approx(1.5)


def test_discriminative_fraction() -> None:
    rows = [
        # rmse: the replicate is lower (better) on p1 and p2, equal on p3 (no win), higher on p4
        (0, "perturbed_mean", "p1", "c", "rmse", 1.0),
        (0, "technical_replicate", "p1", "c", "rmse", 0.5),
        (0, "perturbed_mean", "p2", "c", "rmse", 1.0),
        (0, "technical_replicate", "p2", "c", "rmse", 0.5),
        (1, "perturbed_mean", "p3", "c", "rmse", 1.0),
        (1, "technical_replicate", "p3", "c", "rmse", 1.0),
        (1, "perturbed_mean", "p4", "c", "rmse", 1.0),
        (1, "technical_replicate", "p4", "c", "rmse", 2.0),
        (1, "perturbed_mean", "p5", "c", "rmse", 1.0),
        (1, "technical_replicate", "p5", "c", "rmse", np.nan),  # left out
        # pds: the replicate wins on 2 of 3
        (0, "perturbed_mean", "p1", "c", "pds", 0.5),
        (0, "technical_replicate", "p1", "c", "pds", 0.9),
        (0, "perturbed_mean", "p2", "c", "pds", 0.5),
        (0, "technical_replicate", "p2", "c", "pds", 0.8),
        (0, "perturbed_mean", "p3", "c", "pds", 0.5),
        (0, "technical_replicate", "p3", "c", "pds", 0.4),
    ]
    trust = an.discriminative(table(rows))
    rmse = one(trust, metric="rmse")
    assert (rmse["fraction"], rmse["n_conditions"], rmse["discriminative"]) == (0.5, 4, False)
    pds = one(trust, metric="pds")
    assert pds["fraction"] == pytest.approx(2 / 3) and pds["discriminative"]


@pytest.mark.parametrize("missing", ["technical_replicate", "perturbed_mean"])
def test_calibration_without_a_control_says_which_and_how(missing: str) -> None:
    results = table(calibration_rows())
    results = results[results["model"] != missing]
    for function in (an.calibrated_scores, an.discriminative):
        with pytest.raises(an.CalibrationError, match=missing) as error:
            function(results)
        assert "calibration: true" in str(error.value)


def test_missing_columns_are_named() -> None:
    with pytest.raises(AnalysisError, match="split_category"):
        an.leaderboard(table(calibration_rows()).drop(columns="split_category"))


def test_direction_of_unknown_metrics() -> None:
    assert an.higher_is_better("pdcorr") and not an.higher_is_better("rmse")
    assert not an.higher_is_better("rank_pdcorr")  # registry: best 0
    assert not an.higher_is_better("my_new_error") and an.higher_is_better("my_new_score")


# --- agreement ---------------------------------------------------------------------------------


# --- standard vs strict, merge effects ---------------------------------------------------------


def test_strict_drop_positive_means_worse() -> None:
    standard = table(
        [
            (0, "m", "p1", "c", "pdcorr", 0.4),
            (0, "m", "p2", "c", "pdcorr", 0.6),  # mean 0.5
            (0, "m", "p1", "c", "rmse", 0.1),
        ],
        scenario="context",
        variant="random",
    )
    strict = table(
        [
            (0, "m", "p1", "c", "pdcorr", 0.4),  # 0.5 -> 0.4: 20 % worse
            (0, "m", "p1", "c", "rmse", 0.15),  # 0.1 -> 0.15: 50 % worse
        ],
        scenario="context",
        variant="strict",
    )
    drop = an.strict_drop(pd.concat([standard, strict])).set_index("metric")
    assert drop.loc["pdcorr", "drop"] == pytest.approx(0.2)
    assert drop.loc["rmse", "drop"] == pytest.approx(0.5)
    assert drop.loc["rmse", "standard"] == pytest.approx(0.1)
    assert drop.loc["rmse", "strict"] == pytest.approx(0.15)
    assert set(drop["standard_variant"]) == {"random"}
    with pytest.raises(NotAvailable, match="strict"):
        an.strict_drop(standard)


def test_merge_effects() -> None:
    single = table(
        [(0, "m", "p1", "c", "pdcorr", 0.5), (0, "m", "p1", "c", "rmse", 0.2)],
        scenario="cross_dataset",
        variant="single",
    )
    merged = table(
        [(0, "m", "p1", "c", "pdcorr", 0.6), (0, "m", "p1", "c", "rmse", 0.1)],
        scenario="cross_dataset",
        variant="merged",
    )
    effects = an.merge_effects(pd.concat([single, merged])).set_index("metric")
    assert effects.loc["pdcorr", "effect"] == pytest.approx(0.2)
    assert effects.loc["pdcorr", "gain"] == pytest.approx(0.2)
    assert effects.loc["rmse", "effect"] == pytest.approx(-0.5)  # (0.1 - 0.2) / 0.2
    assert effects.loc["rmse", "gain"] == pytest.approx(0.5)  # lower rmse: better
    assert set(effects["variant"]) == {"merged"}
    with pytest.raises(NotAvailable, match="cross_dataset"):
        an.merge_effects(single)


# --- paired comparison -------------------------------------------------------------------------


def test_paired_comparison_wilcoxon_and_rank_biserial() -> None:
    differences = np.array([1.0, 2.0, -3.0, 4.0, 5.0, 0.5, -0.25, 6.0])
    rows = []
    for i, d in enumerate(differences):
        rows += [
            (0, "a", f"p{i}", "c", "pdcorr", 10 + d),
            (0, "b", f"p{i}", "c", "pdcorr", 10.0),
            (0, "a", f"p{i}", "c", "rmse", 10 + d),  # lower is better: a is worse by d
            (0, "b", f"p{i}", "c", "rmse", 10.0),
        ]
    rows.append((0, "a", "p99", "c", "pdcorr", np.nan))  # unpaired: left out
    rows.append((0, "b", "p99", "c", "pdcorr", 1.0))
    result = an.paired_comparison(table(rows), "a", "b").set_index("metric")
    # ranks of |d|: 0.25->1, 0.5->2, 1->3, 2->4, 3->5, 4->6, 5->7, 6->8; negatives: 1 and 5
    expected = ((36 - 6) - 6) / 36
    assert result.loc["pdcorr", "effect_size"] == pytest.approx(expected)
    assert result.loc["rmse", "effect_size"] == pytest.approx(-expected)
    assert result.loc["pdcorr", "p_value"] == pytest.approx(stats.wilcoxon(differences).pvalue)
    assert result.loc["pdcorr", "n"] == len(differences)
    assert result.loc["pdcorr", "median_difference"] == pytest.approx(np.median(differences))
    assert an.rank_biserial(np.array([1.0, 2.0, -3.0, 4.0])) == pytest.approx(0.4)


def test_paired_comparison_ties_and_missing_model() -> None:
    rows = [(0, m, f"p{i}", "c", "pds", 0.5) for m in ("a", "b") for i in range(4)]
    result = one(an.paired_comparison(table(rows), "a", "b"), metric="pds")
    assert (result["p_value"], result["effect_size"]) == (1.0, 0.0)
    with pytest.raises(AnalysisError, match="zzz"):
        an.paired_comparison(table(rows), "a", "zzz")


# --- cost and the selection guide --------------------------------------------------------------


def test_compute_cost() -> None:
    records = pd.DataFrame(
        {
            "model": ["a", "a", "a", "technical_replicate"],
            "status": ["ok", "ok", "failed", "ok"],
            "fit_seconds": [1.0, 3.0, np.nan, np.nan],
            "predict_seconds": [0.5, 0.5, np.nan, np.nan],
            "wall_seconds": [2.0, 4.0, 9.0, 1.0],
            "peak_memory_mib": [100.0, 300.0, 900.0, 50.0],
        }
    )
    ranks = pd.DataFrame({"model": ["a", "a"], "rank": [1.0, 2.0]})
    cost = an.compute_cost(records, ranks).set_index("model")
    assert cost.loc["a", "fit_seconds"] == pytest.approx(2.0)
    assert cost.loc["a", "wall_seconds"] == pytest.approx(3.0)  # finished tasks only
    assert cost.loc["a", "peak_memory_mib"] == pytest.approx(300.0)
    assert (cost.loc["a", "n_ok"], cost.loc["a", "n_failed"]) == (2, 1)
    assert cost.loc["a", "mean_rank"] == pytest.approx(1.5)
    assert np.isnan(cost.loc["technical_replicate", "mean_rank"])
    with pytest.raises(AnalysisError, match="wall_seconds"):
        an.compute_cost(records.drop(columns="wall_seconds"))
