"""The ranking rules (docs/report.md): one metric set for every model with undefined = worst,
controls as references, calibrated metrics only, seeds aggregated before the 95 % CI over
conditions, the headline set, leaderboard.csv, gated agreement, the guide and terminal widths."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy import stats

from vcbench import analysis as an
from vcbench.analysis.common import NotAvailable
from vcbench.metrics.registry import METRICS
from vcbench.report.console import leaderboard_tables, width_of

COLUMNS = ["dataset", "scenario", "variant", "seed", "model", "context", "perturbation"]
COLUMNS += ["split_category", "metric", "value"]


def table(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (seed, model, perturbation, split_category, metric, value) in one task."""
    frame = pd.DataFrame(
        rows, columns=["seed", "model", "perturbation", "split_category", "metric", "value"]
    )
    frame.insert(0, "dataset", "d")
    frame.insert(1, "scenario", "perturbation")
    frame.insert(2, "variant", "combo")
    frame.insert(5, "context", "k")
    return frame[COLUMNS]


def one(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for key, value in where.items():
        mask &= (frame[key] == value).to_numpy()
    assert mask.sum() == 1, frame[mask]
    return frame[mask].iloc[0]


def controls(metric: str, floor: float, ceiling: float, n: int = 5, seeds=(0,)) -> list[tuple]:
    return [
        (s, model, f"p{i}", "c", metric, value)
        for s in seeds
        for i in range(n)
        for model, value in (("perturbed_mean", floor), ("technical_replicate", ceiling))
    ]


# --- leaderboard -------------------------------------------------------------------------------


def test_seeds_are_averaged_per_condition_before_the_t_interval() -> None:
    values = {0: [0.1, 0.4, 0.3, np.nan, 0.9], 1: [0.3, 0.2, 0.5, np.nan, np.nan]}
    rows = [
        (seed, "fancy", f"p{i}", "c", "pdcorr", v)
        for seed, vs in values.items()
        for i, v in enumerate(vs)
    ]
    board = an.leaderboard(table(rows + controls("pdcorr", 0.0, 1.0, n=5, seeds=(0, 1))))
    row = one(board, model="fancy", split_category="all")
    per_condition = np.array([0.2, 0.3, 0.4, 0.9])  # p3 undefined in both seeds; p4 in one
    low, high = stats.t.interval(
        0.95, len(per_condition) - 1, loc=per_condition.mean(), scale=stats.sem(per_condition)
    )
    assert row["mean"] == pytest.approx(per_condition.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert (row["n"], row["n_nan"], row["n_seeds"]) == (4, 1, 2)
    single = an.leaderboard(table([(0, "fancy", "p0", "c", "pdcorr", 0.5)]))
    assert np.isnan(single["ci_low"]).all() and (single["n"] == 1).all()  # no point interval


def test_undefined_counts_as_worst_and_controls_are_not_ranked() -> None:
    # six conditions, so that five have every control defined (calibration_status needs 5);
    # no_change is a negative control too, so the replicate (0.5) must beat it on rmse (0.55)
    rows = controls("pdcorr", 0.1, 0.9, n=6) + controls("rmse", 2.0, 0.5, n=6)
    for i in range(6):
        rows += [
            (0, "no_change", f"p{i}", "c", "pdcorr", np.nan),  # no effect: undefined
            (0, "fancy", f"p{i}", "c", "pdcorr", 0.05),
            (0, "additive", f"p{i}", "c", "pdcorr", 0.3),
            (0, "no_change", f"p{i}", "c", "rmse", 0.55 if i else np.nan),
            (0, "fancy", f"p{i}", "c", "rmse", 1.2),
            (0, "additive", f"p{i}", "c", "rmse", 3.0),
        ]
    board = an.leaderboard(table(rows))
    overall = board[board["split_category"] == "all"].set_index(["model", "metric"])
    # pdcorr: no_change's undefined values count as -1, so it ranks last (not "missing")
    assert overall.loc[("no_change", "pdcorr"), "rank"] == 3
    assert np.isnan(overall.loc[("no_change", "pdcorr"), "mean"])
    assert overall.loc[("no_change", "pdcorr"), "score"] == -1.0
    assert overall.loc[("additive", "pdcorr"), "rank"] == 1
    # rmse is unbounded: the undefined condition takes the worst value reached there (3.0)
    assert overall.loc[("no_change", "rmse"), "score"] == pytest.approx((3.0 + 5 * 0.55) / 6)
    assert overall.loc[("no_change", "rmse"), "rank"] == 1
    for control in ("perturbed_mean", "technical_replicate"):
        assert overall.loc[(control, "pdcorr"), "role"] == "control"
        assert np.isnan(overall.loc[(control, "pdcorr"), "rank"])
    assert overall.loc[("no_change", "pdcorr"), "role"] == "baseline"
    assert overall.loc[("fancy", "pdcorr"), "role"] == "model"
    assert an.role("collapse") == "control" and an.role("linear(alpha=1)") == "baseline"
    # normalised = (value - floor) / (ceiling - floor) with the controls' means
    assert overall.loc[("fancy", "pdcorr"), "normalised"] == pytest.approx((0.05 - 0.1) / 0.8)
    # the floor is the best negative control: no_change (0.55 where defined), not perturbed_mean
    assert overall.loc[("fancy", "rmse"), "normalised"] == pytest.approx((1.2 - 0.55) / -0.05)


def test_uncalibrated_metric_is_reported_but_not_ranked_nor_normalised() -> None:
    rows = controls("pdcorr", 0.1, 0.9) + controls("pds", 0.8, 0.7)  # pds: replicate loses
    for i in range(5):
        rows += [
            (0, m, f"p{i}", "c", metric, v)
            for m, v in (("a", 0.5), ("b", 0.6))
            for metric in ("pdcorr", "pds")
        ]
    board = an.leaderboard(table(rows))
    pds = board[(board["metric"] == "pds") & (board["model"] == "a")]
    assert not pds["calibrated"].any() and pds["rank"].isna().all()
    assert pds["normalised"].isna().all() and (pds["mean"] == 0.5).all()
    assert "does not beat" in pds["reason"].iloc[0]
    standing = an.headline_ranking(board)
    b = one(standing, model="b", split_category="all")
    assert (b["headline_rank"], b["n_metrics"], b["position"]) == (1, 1, 1)  # pdcorr only
    assert np.isnan(one(standing, model="perturbed_mean", split_category="all")["headline_rank"])


def test_without_controls_nothing_is_calibrated_and_the_reason_says_so() -> None:
    board = an.leaderboard(table([(0, "a", "p0", "c", "pdcorr", 0.5)]))
    assert board["rank"].isna().all() and not board["calibrated"].any()
    assert "calibration: true" in board["reason"].iloc[0]


def test_headline_set_has_one_metric_per_family() -> None:
    present = ["rmse", "pdcorr", "pcc", "de_recall", "pds", "mse"]
    assert an.headline_metrics(present) == ["pdcorr", "pds", "de_recall", "rmse"]
    assert an.headline_metrics(list(METRICS)) == [
        "pdcorr",
        "pds",
        "de_overlap",
        "energy_distance",
    ]


def test_leaderboard_csv_has_exactly_the_documented_columns() -> None:
    rows = controls("pdcorr", 0.1, 0.9) + [(0, "a", f"p{i}", "c", "pdcorr", 0.5) for i in range(5)]
    csv = an.leaderboard_csv(an.leaderboard(table(rows)))
    assert list(csv.columns) == [
        "dataset", "scenario", "variant", "split_category", "model", "role", "metric_family",
        "metric", "mean", "ci_low", "ci_high", "n", "rank", "normalised",
    ]  # fmt: skip
    control = csv[csv["role"] == "control"]
    assert control["rank"].isna().all() and len(control) == 4  # 2 controls × (c, all)
    assert (csv.loc[csv["model"] == "a", "rank"] == 1).all()


def test_summary_gains_ci_and_direction_over_seed_averaged_conditions() -> None:
    rows = [(s, "a", f"p{i}", "c", "rmse", v) for s in (0, 1) for i, v in enumerate((1, 2, 4))]
    rows[0] = (0, "a", "p0", "c", "rmse", 3.0)  # p0: seeds 3 and 1 -> 2
    frame = table(rows)
    summary = an.summarise(
        frame, by=("dataset", "scenario", "variant", "model", "split_category", "metric")
    )
    row = one(summary, split_category="all")
    values = np.array([2.0, 2.0, 4.0])
    low, high = stats.t.interval(0.95, 2, loc=values.mean(), scale=stats.sem(values))
    assert (row["mean"], row["n"], row["direction"]) == (pytest.approx(values.mean()), 3, "lower")
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))


# --- agreement ---------------------------------------------------------------------------------


def test_kendall_tau_b_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = rng.integers(0, 3, size=6).astype(float), rng.normal(size=6)
        expected = stats.kendalltau(x, y).statistic
        assert an.kendall_tau_b(x, y) == pytest.approx(expected, nan_ok=True)


def agreement_rows(n_models: int, n_conditions: int) -> list[tuple]:
    rng = np.random.default_rng(1)
    rows = []
    for k in range(n_models):
        for i in range(n_conditions):
            quality = k + rng.normal(scale=0.3)
            rows += [
                (0, f"m{k}", f"p{i}", "c", "pdcorr", quality),
                (0, f"m{k}", f"p{i}", "c", "rmse", -quality + rng.normal()),
                (0, f"m{k}", f"p{i}", "c", "pds", rng.normal()),
            ]
    return rows


def test_agreement_needs_five_models_and_ten_conditions() -> None:
    for n_models, n_conditions in ((4, 12), (5, 9)):
        with pytest.raises(NotAvailable, match="at least 5 models"):
            an.ranking_agreement(table(agreement_rows(n_models, n_conditions)))
        with pytest.raises(NotAvailable, match="at least 5 models"):
            an.metric_correlation(table(agreement_rows(n_models, n_conditions)))


def test_agreement_tau_matches_scipy_on_model_means_with_an_interval() -> None:
    frame = table(agreement_rows(6, 12))
    pairs = an.ranking_agreement(frame, n_boot=100).set_index(["metric_a", "metric_b"])
    means = frame.groupby(["model", "metric"])["value"].mean().unstack()
    expected = stats.kendalltau(means["pdcorr"], -means["rmse"]).statistic
    row = pairs.loc[("pdcorr", "rmse")]
    assert row["tau"] == pytest.approx(expected)
    assert -1 <= row["tau_low"] <= row["tau_high"] <= 1
    assert (row["n_models"], row["n_conditions"]) == (6, 12)
    corr = an.metric_correlation(frame)
    values = frame.pivot_table(index=["model", "perturbation"], columns="metric", values="value")
    assert corr.loc["pdcorr", "pds"] == pytest.approx(
        stats.spearmanr(values["pdcorr"], values["pds"]).statistic
    )


# --- guide -------------------------------------------------------------------------------------


def test_guide_never_recommends_a_control_and_says_when_no_model_beats_a_baseline() -> None:
    rows = controls("pdcorr", 0.9, 1.0) + controls("rmse", 0.1, 0.01)
    for i in range(5):
        rows += [
            (0, "fancy", f"p{i}", "c", "pdcorr", 0.5),
            (0, "additive", f"p{i}", "c", "pdcorr", 0.6),
            (0, "fancy", f"p{i}", "c", "rmse", 0.2 + 0.01 * i),
            (0, "additive", f"p{i}", "c", "rmse", 0.5 + 0.01 * i),
        ]
    guide = an.selection_guide(an.leaderboard(table(rows))).set_index("family")
    assert set(guide["best_model"]) == {"fancy"}  # perturbed_mean (best pdcorr) is a control
    corr, dist = guide.loc["correlation"], guide.loc["distance"]
    assert corr["best_baseline"] == "additive" and not corr["model_beats_baseline"]
    assert "no model beats the best baseline (additive)" in corr["verdict"]
    assert dist["model_beats_baseline"] and dist["within"] == 0


# --- terminal ----------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 120])
def test_terminal_tables_fit_the_width_and_cut_nothing(width: int) -> None:
    names = ["a_model_with_a_rather_long_name", "additive", "no_change"]
    rows = []
    for metric, floor, ceiling in (("pdcorr", 0.1, 0.9), ("pds", 0.5, 0.9), ("rmse", 2, 0.1)):
        for category in ("combo_unseen0", "combo_unseen1", "combo_unseen2"):
            for i in range(3):
                condition = f"{category}_{i}"
                rows += [
                    (0, m, condition, category, metric, v)
                    for m, v in (
                        ("perturbed_mean", floor),
                        ("technical_replicate", ceiling),
                        *((n, 0.123456 + 0.1 * k + 0.01 * i) for k, n in enumerate(names)),
                    )
                ]
    tables = leaderboard_tables(table(rows), width=width)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None)
    for t in tables:
        assert width_of(t) <= width
        console.print(t)
    text = buffer.getvalue()
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    for name in [*names, "technical_replicate", "combo_unseen2", "pdcorr", "rmse"]:
        assert name in text  # nothing cut
    assert "95 % CI" in text


def test_a_metric_whose_controls_differ_only_by_noise_is_uncalibrated() -> None:
    gaps = np.array([0.5, -0.4, 0.3, -0.2, 0.05])  # mean gap 0.05, interval well across 0
    rows = [(0, "perturbed_mean", f"p{i}", "c", "pdcorr", 0.3) for i in range(5)]
    rows += [
        (0, "technical_replicate", f"p{i}", "c", "pdcorr", 0.3 + g) for i, g in enumerate(gaps)
    ]
    rows += [(0, "a", f"p{i}", "c", "pdcorr", 0.9) for i in range(5)]
    status = an.calibration_status(table(rows))
    row = one(status, split_category="all", metric="pdcorr")
    assert not row["calibrated"] and "beyond noise" in row["reason"]
    assert row["ceiling"] - row["floor"] == pytest.approx(gaps.mean())
    board = an.leaderboard(table(rows))
    assert board["normalised"].isna().all()  # no (0.9 - 0.3) / 0.05 = 12 printed
