"""The report's findings (the seed paper's three, with the numbers of findings.csv), its
representation-coverage section, and the interval of the value-correlation heatmap."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vcbench.analysis.correlation import metric_correlation_interval
from vcbench.analysis.findings import FINDING_COLUMNS, POOLED
from vcbench.report import build_report, write_report
from vcbench.runner.coverage import UNCOVERED_NOTE

MODELS = ["m1", "m2", "m3", "m4", "m5"]
METRICS = ["pdcorr", "rmse"]
SEEDS = [0, 1, 2]
COLUMNS = [
    "dataset", "scenario", "variant", "seed", "model", "context", "perturbation",
    "split_category", "metric", "value",
]  # fmt: skip


def known_table() -> tuple[pd.DataFrame, float, tuple[float, float], float, int]:
    """Results of a context scenario (random and strict; one test context) and a perturbation
    scenario over 3 contexts, with the pooled strict − random difference of pdcorr, its 95 %
    t-interval, the median over models of pdcorr's between-context share and the number of
    (seed, model) pairs where strict is worse, computed by hand."""
    rng = np.random.default_rng(7)
    rows = []
    # strict[v][s, m, p]: seed s, model m, perturbation p
    cube = {v: rng.normal(0.5, 0.2, (len(SEEDS), len(MODELS), 6)) for v in ("random", "strict")}
    cube["strict"] -= 0.1 + 0.05 * rng.random((len(SEEDS), len(MODELS), 1))
    for variant, values in cube.items():
        for s, seed in enumerate(SEEDS):
            for m, model in enumerate(MODELS):
                for p in range(6):
                    for metric in METRICS:
                        value = values[s, m, p] if metric == "pdcorr" else rng.random() + m
                        rows.append(("d", "context", variant, seed, model, "c1", f"p{p}", "all",
                                     metric, value))  # fmt: skip
    d = (cube["strict"].mean(axis=2) - cube["random"].mean(axis=2)).ravel()  # (seed, model) pairs
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    # three contexts with different levels: the between-context share eta^2 per model
    contexts = ["c1", "c2", "c3"]
    shares = []
    for model in MODELS:
        levels = rng.normal(0, 0.3, len(contexts))
        x = levels[:, None] + rng.normal(0, 0.2, (len(contexts), 5))  # context × perturbation
        grand = x.mean()
        between = (x.shape[1] * (x.mean(axis=1) - grand) ** 2).sum()
        shares.append(between / ((x - grand) ** 2).sum())
        for k, context in enumerate(contexts):
            for p in range(5):
                for metric in METRICS:
                    value = x[k, p] if metric == "pdcorr" else rng.random()
                    rows.append(("d", "perturbation", "single", 0, model, context, f"q{p}",
                                 "single_unseen", metric, value))  # fmt: skip
    table = pd.DataFrame(rows, columns=COLUMNS)
    interval = (d.mean() - half, d.mean() + half)
    return table, float(d.mean()), interval, float(np.median(shares)), int((d < 0).sum())


def test_the_reports_findings_are_the_numbers_of_findings_csv(tmp_path) -> None:
    results, drop, (low, high), share, n_worse = known_table()
    results.to_parquet(tmp_path / "results.parquet")
    files = write_report(tmp_path, n_boot=50)
    table = pd.read_csv(files.findings)
    assert list(table.columns) == FINDING_COLUMNS
    pooled = table[table["model"] == POOLED].set_index(["finding", "scenario", "metric"])
    strict = pooled.loc[("strict_drop", "context", "pdcorr")]
    assert strict["estimate"] == pytest.approx(drop, rel=1e-9)
    assert (strict["ci_low"], strict["ci_high"]) == pytest.approx((low, high), rel=1e-9)
    assert strict["n"] == len(SEEDS) * len(MODELS) and strict["n_worse"] == n_worse
    context = pooled.loc[("context_variation", "perturbation", "pdcorr")]
    assert context["estimate"] == pytest.approx(share, rel=1e-9)
    assert context["n_contexts"] == 3
    # the summary at the top states the same numbers
    page = html.unescape(files.html.read_text())
    summary = page.split('<section id="summary">', 1)[1].split("</section>", 1)[0]
    lines = re.findall(r"<li>(.*?)</li>", summary, flags=re.S)
    [strict_line] = [line for line in lines if line.startswith("Strict drop (finding 2)")]
    assert f"pdcorr {drop:.3g} [{low:.3g}, {high:.3g}]" in strict_line
    assert high < 0 and "worse beyond its CI on" in strict_line  # pdcorr: lower is worse
    [context_line] = [line for line in lines if line.startswith("Context variation (finding 1)")]
    assert f"pdcorr {share:.3g} [" in context_line and "3 contexts:" in context_line
    [tau_line] = [line for line in lines if line.startswith("Metric disagreement (finding 3)")]
    assert "Kendall τ = " in tau_line
    # and the findings section holds the full sentences
    assert '<section id="findings">' in page
    assert page.index('id="summary"') < page.index('id="headline"') < page.index('id="findings"')


def test_findings_say_when_the_data_cannot_support_them() -> None:
    results, *_ = known_table()
    rows = (results["scenario"] == "context") & (results["variant"] == "random")
    report = build_report(results[rows & (results["seed"] == 0)], None, n_boot=20)
    text = " ".join(report.summary)
    assert "Context variation (finding 1): not testable here" in text
    assert "Strict drop (finding 2): not testable here" in text
    assert "only 6 conditions (need 10)" in text  # five models but six conditions


def records(coverage: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"dataset": "d", "scenario": "perturbation", "variant": "single", "seed": s,
         "model": model, "status": "ok", "fit_seconds": 1.0, "predict_seconds": 0.1,
         "wall_seconds": 2.0, "peak_memory_mib": 100.0, "representation_coverage": share}
        for model, shares in coverage.items()
        for s, share in enumerate(shares)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_coverage_per_task_and_a_sentence_below_100_percent() -> None:
    results, *_ = known_table()
    results = results[results["scenario"] == "perturbation"].assign(note="")
    uncovered = (results["model"] == "m1") & results["perturbation"].isin(["q1", "q3"])
    results.loc[uncovered, "note"] = UNCOVERED_NOTE
    # m1: 3 of 5 perturbations covered in seed 0 (q1, q3 not), all in seed 1 → mean 80 %
    report = build_report(results, records({"m1": [0.6, 1.0], "m2": [1.0, 1.0]}), n_boot=20)
    section = next(s for s in report.sections if s.key == "coverage")
    assert section.unavailable is None
    texts = [b.content for b in section.blocks if b.kind == "text"]
    assert texts == [
        "m1 covers 80 % of the test perturbations of perturbation / single (lowest seed 60 %; "
        "2 uncovered: q1, q3)."
    ]
    [table] = [b.content for b in section.blocks if b.kind == "table"]
    assert table.set_index("model").loc["m1"].tolist() == ["80 %"]
    assert table.set_index("model").loc["m2"].tolist() == ["100 %"]
    assert any("coverage below 100 %" in line and "m1 80 %" in line for line in report.summary)
    # full coverage: no sentence of shortfall; no recorded coverage: the section says why
    full = build_report(results, records({"m2": [1.0, 1.0]}), n_boot=20)
    section = next(s for s in full.sections if s.key == "coverage")
    assert [b.content for b in section.blocks if b.kind == "text"] == [
        "Every model with a featuriser covers 100 % of its test perturbations."
    ]
    assert not any("coverage below" in line for line in full.summary)
    bare = build_report(results, None, n_boot=20)
    section = next(s for s in bare.sections if s.key == "coverage")
    assert "no task recorded a representation coverage" in section.unavailable


def test_value_correlation_has_a_bootstrap_interval() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for model in MODELS:
        for i in range(30):
            signal = rng.normal()
            values = {
                "pdcorr": signal,
                "pds": signal + rng.normal(0, 0.3),  # agrees with pdcorr
                "de_overlap": rng.normal(),  # independent of both
            }
            for metric, value in values.items():
                rows.append(("d", "perturbation", "single", 0, model, "k", f"p{i}",
                             "single_unseen", metric, value))  # fmt: skip
    results = pd.DataFrame(rows, columns=COLUMNS)
    table = metric_correlation_interval(results, ["pdcorr", "pds", "de_overlap"], n_boot=200)
    pairs = table.set_index(["metric_a", "metric_b"])
    # the point estimate is Spearman's ρ over every (model, condition) value, computed by scipy
    wide = results.pivot_table(index=["model", "perturbation"], columns="metric", values="value")
    for (a, b), row in pairs.iterrows():
        assert row["rho"] == pytest.approx(stats.spearmanr(wide[a], wide[b]).statistic)
        assert row["rho_low"] <= row["rho"] <= row["rho_high"]
        assert row["n"] == len(wide)
    agree = pairs.loc[("pdcorr", "pds")]
    assert agree["rho_low"] > 0.8
    independent = pairs.loc[("pdcorr", "de_overlap")]
    assert independent["rho_low"] < 0 < independent["rho_high"]
    # the report shows them: a headline table with the intervals
    report = build_report(results, None, n_boot=100)
    section = next(s for s in report.sections if s.key == "agreement")
    [rho_table] = [
        b.content
        for b in section.blocks
        if b.kind == "table" and "Spearman ρ [95 % CI]" in b.content
    ]
    shown = rho_table.set_index("metrics")["Spearman ρ [95 % CI]"]
    assert shown["pdcorr vs pds"].startswith(f"{agree['rho']:+.2f} [")
    assert any("hatched" in b.caption for b in section.blocks if b.kind == "figure")
