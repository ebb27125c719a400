"""benchmarks/paper/make_findings.py on a small synthetic results folder."""

from __future__ import annotations

import importlib.util
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "paper" / "make_findings.py"
MODELS = ("no_change", "linear_additive", "linear", "perturbation_mean", "random_perturbation")
METRICS = ("pcc", "pdcorr", "lfc_spearman", "lfc_cosine", "pds", "de_overlap", "rmse")


def _script():
    spec = importlib.util.spec_from_file_location("make_findings", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results(combo_names: tuple[str, ...]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    base = {"dataset": "toy", "note": ""}
    for variant, seed, context, model, metric in itertools.product(
        ("random", "strict"),
        range(3),
        ("a", "b", "c", "d"),
        (*MODELS, "technical_replicate"),
        METRICS,
    ):
        value = 0.5 + 0.1 * MODELS.index(model) if model in MODELS else 0.9
        value += {"a": 0.0, "b": 0.1, "c": 0.2, "d": 0.3}[context] + rng.normal(0, 0.01)
        value -= 0.1 if variant == "strict" else 0.0
        rows.append(
            {
                **base,
                "scenario": "context",
                "variant": variant,
                "seed": seed,
                "model": model,
                "context": context,
                "perturbation": "stim",
                "split_category": "unseen_context",
                "metric": metric,
                "value": value,
            }
        )
    for seed, category, k, model, metric in itertools.product(
        range(2), combo_names, range(3), MODELS, METRICS
    ):
        hit = (model, metric, category) == ("linear_additive", "pdcorr", combo_names[-1])
        value = 0.8 if hit else 0.3
        rows.append(
            {
                **base,
                "scenario": "perturbation",
                "variant": "combo",
                "seed": seed,
                "model": model,
                "context": "k562",
                "perturbation": f"{category}_{k}",
                "split_category": category,
                "metric": metric,
                "value": value + 0.01 * k,
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "names",
    [
        ("single_unseen", "combo_seen0", "combo_seen1", "combo_seen2"),  # before the rename
        ("single_unseen", "combo_unseen2", "combo_unseen1", "combo_unseen0"),  # the paper's names
    ],
)
def test_page_and_csv_from_a_synthetic_results_folder(tmp_path: Path, names) -> None:
    run = tmp_path / "run"
    run.mkdir()
    _results(names).to_parquet(run / "results.parquet")
    out = tmp_path / "docs" / "findings.md"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(run), "--out", str(out), "--n-boot", "50"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    for heading in ("1. Context variation", "2. Strict drop", "3. Metric disagreement"):
        assert heading in page
    assert "## Side by side with the paper" in page and "## Crosswalk" in page
    assert "worse under strict" in page  # strict is 0.1 worse on every pair
    # both genes seen alone (combo_seen2 = combo_unseen0): linear_additive's pdcorr is 0.8 + 0.01 k
    assert (
        "| Combo Unseen 0 perturbation/combo | pdcorr | mean | Linear Additive → linear_additive | toy "
        "| 0.85 | 0.81 |" in page
    )
    findings = pd.read_csv(out.with_suffix(".csv"))
    assert set(findings["finding"]) == {"context_variation", "strict_drop", "metric_disagreement"}
    assert "technical_replicate" not in set(findings["model"].dropna())


def test_comparison_values_match_hand_computed_means() -> None:
    module = _script()
    results = _results(("single_unseen", "combo_seen0", "combo_seen1", "combo_seen2"))
    from vcbench.analysis.findings import strict_drop_test

    strict = strict_drop_test(results, metrics=METRICS)
    table = module.compare(results, strict, module.read_paper_numbers())
    row = table[
        (table["protocol"] == "fig3_norman")
        & (table["split_category"] == "combo_unseen2")
        & (table["metric"] == "pdcorr")
        & (table["paper_model"] == "Linear Additive")
    ].iloc[0]
    wanted = results[
        (results["model"] == "linear_additive")
        & (results["metric"] == "pdcorr")
        & (results["split_category"] == "combo_seen0")
    ]["value"].mean()
    assert row["vcbench"] == pytest.approx(wanted) and row["gap"] == pytest.approx(wanted - 0.55)
    relative = table[(table["statistic"] == "relative_change") & (table["metric"] == "pdcorr")]
    rows = results[(results["model"] == "linear_additive") & (results["metric"] == "pdcorr")]
    means = rows[rows["scenario"] == "context"].groupby("variant")["value"].mean()
    wanted = (means["strict"] - means["random"]) / abs(means["random"])
    assert relative.iloc[0]["vcbench"] == pytest.approx(wanted)


def test_a_folder_without_results_is_a_plain_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), "--out", str(tmp_path / "f.md")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "results.parquet does not exist" in done.stderr
