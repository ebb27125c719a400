"""n = 1 says "n = 1", never a point interval; one shift measure, the nearest training context's
energy distance (issue #15, items 5 and 6; docs/validity.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from vcbench.analysis.findings import _percentile, ci_text, strict_drop_test, strict_sentences
from vcbench.analysis.summary import summarise
from vcbench.data.loader import load_dataset
from vcbench.report.console import _cell
from vcbench.scenarios import make_split
from vcbench.scenarios.shift import split_shift

KANG = "kang2018_pbmc_ifnb_scgen/kang2018_pbmc_ifnb_scgen_valid.h5ad"


def _results(values: list[float], seeds: list[int] | None = None) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame(
        {
            "seed": seeds or [0] * n,
            "model": "m",
            "context": [f"k{i}" for i in range(n)] if seeds is None else "k0",
            "perturbation": "p",
            "split_category": "unseen_context",
            "metric": "pdcorr",
            "value": values,
        }
    )


def test_one_condition_has_no_interval_and_says_n_1() -> None:
    # one condition, scored in three seeds: the interval is over conditions, so n = 1
    row = summarise(_results([0.851, 0.851, 0.851], seeds=[0, 1, 2])).iloc[0]
    assert row["n"] == 1 and np.isnan(row["ci_low"]) and np.isnan(row["ci_high"])
    assert _cell(row["mean"], row["ci_low"], row["ci_high"], 0) == "0.851 (n=1)"
    # two conditions: a real interval around the mean
    two = summarise(_results([0.8, 0.9])).iloc[0]
    assert two["n"] == 2 and two["ci_low"] < 0.85 < two["ci_high"]


def test_findings_text_never_prints_a_point_interval() -> None:
    assert ci_text(0.851, np.nan, np.nan, 1) == "0.851 (n = 1)"
    assert ci_text(0.851, 0.851, 0.851, 3) == "0.851 (no spread over n = 3)"
    assert ci_text(0.85, 0.8, 0.9, 3) == "0.85 [0.8, 0.9]"
    # a bootstrap that redraws one unit gives every draw the same value: no interval
    assert np.isnan(_percentile(np.full(100, 0.851), n_units=1)).all()
    assert _percentile(np.linspace(0, 1, 101), n_units=5) == pytest.approx((0.025, 0.975))


def test_the_shift_is_the_nearest_training_contexts_distance() -> None:
    table = pd.DataFrame(
        {
            "measure": ["category", "nearest_context", "nearest_context"],
            "energy_distance": [9.0, 1.0, 2.0],
        }
    )
    assert split_shift(table) == (1.5, "nearest_context")
    assert split_shift(table.iloc[:1]) == (9.0, "category")  # no held-out context
    assert np.isnan(split_shift(None)[0])


def _strict_results(shifts: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for variant in ("random", "strict"):
        for seed in range(3):
            for model in ("a", "b"):
                value = 0.8 - (0.1 if variant == "strict" else 0.0) + 0.01 * seed
                rows.append(
                    (
                        "kang",
                        "context",
                        variant,
                        seed,
                        model,
                        "k",
                        "p",
                        "unseen_context",
                        "pdcorr",
                        value,
                    )
                )
    columns = ["dataset", "scenario", "variant", "seed", "model", "context", "perturbation"]
    return pd.DataFrame(rows, columns=[*columns, "split_category", "metric", "value"])


@pytest.fixture(scope="module")
def kang():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_dataset(
            shared_file(KANG), perturbation_key="condition", context_key="cell_type"
        )


def test_kang_strict_is_farther_than_random_and_the_finding_says_by_how_much(kang) -> None:
    """On Kang (7 cell types), seeds 0-2: the split files' shift is the nearest-context distance,
    and the strict split is farther from training than the random one on every seed."""
    rows = []
    for variant in ("random", "strict"):
        for seed in range(3):
            split = make_split(kang, "context", variant, seed=seed)
            nearest = split.shift[split.shift["measure"] == "nearest_context"]
            assert split.info["shift_measure"] == "nearest_context"
            assert split.info["shift"] == pytest.approx(nearest["energy_distance"].mean())
            rows.append(("kang", "context", variant, seed, split.info["shift"], "nearest_context"))
    shifts = pd.DataFrame(
        rows, columns=["dataset", "scenario", "variant", "seed", "shift", "measure"]
    )
    wide = shifts.pivot(index="seed", columns="variant", values="shift")
    assert (wide["strict"] > wide["random"]).all()
    row = strict_drop_test(_strict_results(shifts), metrics=["pdcorr"], shifts=shifts).iloc[0]
    assert row["shift_strict"] == pytest.approx(wide["strict"].mean())
    assert row["shift_standard"] == pytest.approx(wide["random"].mean())
    assert row["extra_shift"] == pytest.approx((wide["strict"] - wide["random"]).mean())
    (sentence,) = strict_sentences(strict_drop_test(_strict_results(shifts), ["pdcorr"], shifts))
    assert "the strict split is farther from training than random" in sentence
    assert f"strict {row['shift_strict']:.3g}" in sentence
