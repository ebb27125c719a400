"""The three findings (vcbench.analysis.findings) on synthetic result tables with known answers,
cross-checked against scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vcbench.analysis.findings import (
    FINDING_COLUMNS,
    POOLED,
    analyse,
    context_variation,
    findings_table,
    metric_disagreement,
    statements,
    strict_drop_test,
)

MODELS = ("m1", "m2", "m3", "m4", "m5")


def _rows(variant: str, seeds, contexts, models, metrics, value) -> list[dict]:
    rows = []
    for seed, context, model, metric in itertools.product(seeds, contexts, models, metrics):
        rows.append(
            {
                "dataset": "d",
                "scenario": "context",
                "variant": variant,
                "seed": seed,
                "model": model,
                "context": context,
                "perturbation": "p",
                "split_category": "unseen_context",
                "metric": metric,
                "value": value(seed, context, model, metric),
                "note": "",
            }
        )
    return rows


def _strict_table(shift: float, noise: float = 0.0, seeds=range(5)) -> pd.DataFrame:
    """Random and strict variants; strict is worse by ``shift`` on every pair (oriented), plus
    seeded noise of sd ``noise`` per (seed, model, metric)."""
    rng = np.random.default_rng(1)
    jitter = {
        key: rng.normal(0, noise)
        for key in itertools.product(seeds, MODELS, ("pdcorr", "energy_distance"))
    }
    models = (*MODELS, "technical_replicate", "perturbed_mean")

    def base(seed, context, model, metric):
        return 0.5 + 0.01 * seed + (0.02 * int(model[-1]) if model[-1].isdigit() else 0.0)

    def random_value(seed, context, model, metric):
        return base(seed, context, model, metric)

    def strict_value(seed, context, model, metric):
        sign = -1.0 if metric == "pdcorr" else 1.0  # energy distance: higher = worse
        extra = jitter.get((seed, model, metric), 0.0)
        return base(seed, context, model, metric) + sign * shift + extra

    metrics = ("pdcorr", "energy_distance")
    rows = _rows("random", seeds, ("a", "b"), models, metrics, random_value)
    rows += _rows("strict", seeds, ("c", "d"), models, metrics, strict_value)
    return pd.DataFrame(rows)


def test_strict_worse_by_exactly_a_tenth() -> None:
    table = strict_drop_test(_strict_table(0.1))
    assert set(table["model"]) == {*MODELS, POOLED}  # controls left out
    pdcorr = table[table["metric"] == "pdcorr"].set_index("model")
    energy = table[table["metric"] == "energy_distance"].set_index("model")
    assert pdcorr["estimate"].to_numpy() == pytest.approx(-0.1)
    assert energy["estimate"].to_numpy() == pytest.approx(0.1)  # raw strict − random
    assert pdcorr.loc[POOLED, ["ci_low", "ci_high"]].to_numpy() == pytest.approx([-0.1, -0.1])
    assert pdcorr.loc[POOLED, "n"] == 25 and pdcorr.loc[POOLED, "n_worse"] == 25
    assert energy.loc["m1", "n_worse"] == 5
    assert pdcorr.loc[POOLED, "p_value"] == pytest.approx(stats.binomtest(25, 25).pvalue)
    assert pdcorr.loc["m1", "p_value"] == pytest.approx(2 * 0.5**5)
    text = statements(**_empty_but(strict=table))["strict_drop"][0]
    assert "pdcorr -0.1 (no spread over n = 25)" in text and "worse under strict" in text
    assert "not reproduced here" not in text


def _empty_but(**tables: pd.DataFrame) -> dict[str, pd.DataFrame]:
    empty = {"context": pd.DataFrame(), "strict": pd.DataFrame(), "disagreement": pd.DataFrame()}
    return {**empty, **tables}


def test_strict_drop_ci_and_sign_test_match_scipy_on_noisy_pairs() -> None:
    results = _strict_table(0.02, noise=0.05)
    table = strict_drop_test(results).set_index(["model", "metric"])
    per_seed = results.groupby(["variant", "seed", "model", "metric"])["value"].mean()
    for model in ("m2", POOLED):
        models = MODELS if model == POOLED else (model,)
        frame = per_seed.reset_index()
        frame = frame[frame["model"].isin(models) & (frame["metric"] == "pdcorr")]
        wide = frame.pivot_table(index=["seed", "model"], columns="variant", values="value")
        d = (wide["strict"] - wide["random"]).to_numpy()
        test = stats.ttest_rel(wide["strict"], wide["random"])
        interval = test.confidence_interval(0.95)
        row = table.loc[(model, "pdcorr")]
        assert row["estimate"] == pytest.approx(d.mean())
        assert [row["ci_low"], row["ci_high"]] == pytest.approx([interval.low, interval.high])
        worse, better = int((d < 0).sum()), int((d > 0).sum())
        assert row["p_value"] == pytest.approx(stats.binomtest(worse, worse + better).pvalue)


def test_no_drop_reads_not_reproduced_and_few_seeds_are_flagged() -> None:
    results = _strict_table(0.0, noise=0.05, seeds=range(2))
    table = strict_drop_test(results)
    assert not table["supported"].any()
    text = statements(**_empty_but(strict=table))["strict_drop"][0]
    assert "not reproduced here" in text
    assert "cannot support" in text and "only 2 seed(s)" in text


def test_extra_shift_is_the_paired_shift_difference() -> None:
    shifts = pd.DataFrame(
        {
            "dataset": "d",
            "scenario": "context",
            "variant": ["random"] * 3 + ["strict"] * 3,
            "seed": [0, 1, 2] * 2,
            "shift": [1.0, 2.0, 3.0, 1.5, 2.7, 3.2],
        }
    )
    row = strict_drop_test(_strict_table(0.1), shifts=shifts).iloc[0]
    d = np.array([0.5, 0.7, 0.2])
    interval = stats.ttest_1samp(d, 0).confidence_interval(0.95)
    assert row["extra_shift"] == pytest.approx(d.mean())
    assert [row["extra_shift_ci_low"], row["extra_shift_ci_high"]] == pytest.approx(
        [interval.low, interval.high]
    )


def _ranking_table(values: dict[str, list[float]], n_conditions: int = 10) -> pd.DataFrame:
    """One task; each metric's value per model (in MODELS order) on every condition, plus small
    condition noise that keeps the order."""
    rows = []
    for metric, by_model in values.items():
        for k in range(n_conditions):
            for model, value in zip(MODELS, by_model, strict=True):
                rows.append(
                    {
                        "dataset": "d",
                        "scenario": "perturbation",
                        "variant": "single",
                        "seed": 0,
                        "model": model,
                        "context": "k562",
                        "perturbation": f"g{k}",
                        "split_category": "single_unseen",
                        "metric": metric,
                        "value": value + 0.001 * k,
                        "note": "",
                    }
                )
    return pd.DataFrame(rows)


def test_reversed_rankings_give_tau_minus_one() -> None:
    # pdcorr ranks m5 best; energy distance (lower is better) also ranks m5 best: τ = +1;
    # de_overlap ranks m1 best: τ = −1 against both.
    table = _ranking_table(
        {
            "pdcorr": [0.1, 0.2, 0.3, 0.4, 0.5],
            "energy_distance": [5.0, 4.0, 3.0, 2.0, 1.0],
            "de_overlap": [0.5, 0.4, 0.3, 0.2, 0.1],
        }
    )
    tau = metric_disagreement(table, n_boot=50).set_index(["metric", "metric_b"])
    assert tau.loc[("pdcorr", "de_overlap"), "estimate"] == pytest.approx(-1.0)
    interval = tau.loc[("pdcorr", "de_overlap"), ["ci_low", "ci_high"]].tolist()
    assert interval == pytest.approx([-1.0, -1.0])
    assert tau.loc[("pdcorr", "energy_distance"), "estimate"] == pytest.approx(1.0)
    assert tau.loc[("de_overlap", "energy_distance"), "estimate"] == pytest.approx(-1.0)
    assert tau["supported"].all()
    text = statements(**_empty_but(disagreement=tau.reset_index()))["metric_disagreement"][0]
    assert "pdcorr vs de_overlap τ = -1 (no spread over n = 10)" in text


def test_tau_matches_scipy_and_undefined_ranks_last() -> None:
    rng = np.random.default_rng(3)
    table = _ranking_table(
        {"pdcorr": list(rng.random(5)), "pds": list(rng.random(5))}, n_conditions=4
    )
    table.loc[(table["model"] == "m3") & (table["metric"] == "pds"), "value"] = np.nan
    row = metric_disagreement(table, n_boot=20).iloc[0]
    means = table.groupby(["metric", "model"])["value"].mean().unstack("metric")
    pds = means["pds"].fillna(-np.inf)  # undefined = worst
    assert row["estimate"] == pytest.approx(stats.kendalltau(means["pdcorr"], pds).statistic)
    assert not row["supported"] and "only 4 conditions" in row["note"]


def _context_table(context_effect: list[float], within: list[float]) -> pd.DataFrame:
    """Scores of one model on contexts with means ``context_effect``, each scored once per seed
    with the offsets ``within``."""
    contexts = [f"c{i}" for i in range(len(context_effect))]

    def value(seed, context, model, metric):
        return context_effect[contexts.index(context)] + within[seed]

    return pd.DataFrame(_rows("random", range(len(within)), contexts, ("m1",), ("pdcorr",), value))


def test_context_share_matches_one_way_anova() -> None:
    table = _context_table([0.1, 0.5, 0.3, 0.9], within=[0.0, 0.05, -0.08])
    share = context_variation(table, n_boot=100)
    row = share[share["model"] == "m1"].iloc[0]
    groups = [g["value"].to_numpy() for _, g in table.groupby("context")]
    f = stats.f_oneway(*groups).statistic
    k, n = len(groups), len(table)
    assert row["estimate"] == pytest.approx(f * (k - 1) / (f * (k - 1) + n - k))
    assert row["ci_low"] <= row["estimate"] <= row["ci_high"] and row["supported"]
    assert row["n_contexts"] == 4 and row["n"] == 12


def test_context_share_is_zero_without_and_one_with_only_context_effects() -> None:
    none = context_variation(_context_table([0.4] * 4, within=[0.0, 0.1, -0.1]), n_boot=20)
    assert none.iloc[0]["estimate"] == pytest.approx(0.0)
    only = context_variation(_context_table([0.1, 0.5, 0.3], within=[0.0, 0.0]), n_boot=20)
    assert only.iloc[0]["estimate"] == pytest.approx(1.0)


def test_context_share_says_when_data_cannot_support_it() -> None:
    two = context_variation(_context_table([0.1, 0.5], within=[0.0, 0.1]), n_boot=20)
    assert not two["supported"].any() and "only 2 contexts" in two.iloc[0]["note"]
    once = context_variation(_context_table([0.1, 0.5, 0.3, 0.2], within=[0.0]), n_boot=20)
    assert not once["supported"].any() and "scored once" in once.iloc[0]["note"]
    text = statements(**_empty_but(context=once))["context_variation"][0]
    assert "cannot support" in text


def test_analyse_writes_every_finding_in_the_csv_columns() -> None:
    results = pd.concat(
        [_strict_table(0.1), _context_table([0.1, 0.5, 0.3], within=[0.0, 0.1, 0.2])]
    )
    table, sentences = analyse(results, n_boot=20)
    assert list(table.columns) == FINDING_COLUMNS
    assert set(table["finding"]) == {"context_variation", "strict_drop", "metric_disagreement"}
    assert all(sentences[k] for k in ("context_variation", "strict_drop", "metric_disagreement"))


def test_findings_table_without_any_finding_is_empty_with_the_csv_columns() -> None:
    empty = pd.DataFrame()
    table = findings_table(empty, empty, empty)  # a failed run or a single model
    assert table.empty and list(table.columns) == FINDING_COLUMNS
    assert statements(empty, empty, empty)["strict_drop"][0].startswith("Strict drop: no scenario")
