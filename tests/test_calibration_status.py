"""calibration_status: the paired bootstrap that decides whether a metric is calibrated."""

import numpy as np
import pandas as pd

from vcbench.analysis.calibration import STATUS_COLUMNS, calibration_status


def _results(values: dict[str, np.ndarray], metric: str, seeds: int = 2) -> pd.DataFrame:
    rows = []
    for seed in range(seeds):
        for model, column in values.items():
            for i, value in enumerate(column):
                rows.append(
                    {
                        "dataset": "d",
                        "scenario": "s",
                        "variant": "v",
                        "seed": seed,
                        "model": model,
                        "context": "c",
                        "perturbation": f"p{i}",
                        "split_category": "single_unseen",
                        "metric": metric,
                        "value": value + 0.01 * seed,
                    }
                )
    return pd.DataFrame(rows)


def test_clear_ceiling_is_calibrated_with_floor_and_ceiling_the_control_means() -> None:
    rng = np.random.default_rng(0)
    pos = 0.9 + 0.01 * rng.standard_normal(30)
    neg = 0.2 + 0.01 * rng.standard_normal(30)
    nochange = 0.1 + 0.01 * rng.standard_normal(30)
    table = calibration_status(
        _results({"technical_replicate": pos, "perturbed_mean": neg, "no_change": nochange}, "pcc")
    )
    assert list(table.columns) == STATUS_COLUMNS
    assert set(table["split_category"]) == {"single_unseen", "all"}
    row = table.iloc[0]
    assert bool(row["calibrated"]) and row["reason"] == ""
    assert row["n_conditions"] == 30
    # seeds averaged first: +0.005 on every value; the floor is the better negative (perturbed_mean)
    assert np.isclose(row["floor"], neg.mean() + 0.005)
    assert np.isclose(row["ceiling"], pos.mean() + 0.005)


def test_negative_control_reaching_the_ceiling_is_uncalibrated_with_reason() -> None:
    rng = np.random.default_rng(1)
    pos = 0.9 + 0.05 * rng.standard_normal(30)
    neg = pos + 0.05 * rng.standard_normal(30)  # same level: no separation
    table = calibration_status(_results({"technical_replicate": pos, "perturbed_mean": neg}, "pcc"))
    row = table.iloc[0]
    assert not row["calibrated"]
    assert "perturbed_mean" in row["reason"] and "CI" in row["reason"]


def test_lower_is_better_metric_uses_its_direction() -> None:
    pos = np.linspace(0.1, 0.2, 20)
    neg = pos + 1.0
    table = calibration_status(_results({"technical_replicate": pos, "perturbed_mean": neg}, "mse"))
    assert table["calibrated"].all()
    flipped = calibration_status(
        _results({"technical_replicate": neg, "perturbed_mean": pos}, "mse")
    )
    assert not flipped["calibrated"].any()


def test_collapse_control_counts_only_on_cell_level_metrics() -> None:
    pos = np.linspace(0.5, 0.6, 20)
    neg = pos - 0.4
    collapse = pos + 0.3  # beats the replicate: a point mass at the true mean
    for metric, calibrated in [("pcc", True), ("energy_distance", False)]:
        sign = 1.0 if metric == "pcc" else -1.0
        values = {
            "technical_replicate": sign * pos,
            "perturbed_mean": sign * neg,
            "collapse_control": sign * collapse,
        }
        row = calibration_status(_results(values, metric)).iloc[0]
        assert bool(row["calibrated"]) is calibrated, (metric, row["reason"])
        if not calibrated:
            assert "collapse_control" in row["reason"]


def test_missing_positive_control_or_too_few_conditions_says_why() -> None:
    table = calibration_status(_results({"perturbed_mean": np.ones(5)}, "pcc"))
    assert not table["calibrated"].any()
    assert table["reason"].str.contains("technical_replicate").all()
    few = calibration_status(
        _results({"technical_replicate": np.ones(2), "perturbed_mean": np.zeros(2)}, "pcc")
    )
    assert few["reason"].str.contains("at least 3").all()
