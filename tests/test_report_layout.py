"""The compact page: a headline leaderboard of at most 8 columns with the controls as references,
full tables behind disclosures, findings with numbers."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from vcbench.metrics.registry import METRICS
from vcbench.report import build_report, render_html

MODELS = ("fancy", "no_change", "additive", "linear", "random_perturbation", "perturbation_mean")


def results() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    metrics = list(METRICS)[:24]
    rows = []
    for m, model in enumerate((*MODELS, "perturbed_mean", "technical_replicate")):
        quality = {"technical_replicate": 10.0, "perturbed_mean": -10.0}.get(model, m)
        for i in range(12):
            category = f"combo_unseen{i % 3}"
            for metric in metrics:
                sign = 1 if METRICS[metric].higher_is_better else -1
                value = sign * quality + rng.normal()
                if model == "no_change" and METRICS[metric].family == "correlation":
                    value = np.nan
                rows.append(("d", "perturbation", "combo", 0, model, "k", f"p{i}", category,
                             metric, value))  # fmt: skip
    columns = ["dataset", "scenario", "variant", "seed", "model", "context", "perturbation"]
    return pd.DataFrame(rows, columns=[*columns, "split_category", "metric", "value"])


def test_headline_table_is_compact_and_controls_are_references() -> None:
    report = build_report(results(), None, n_boot=50)
    headline = next(s for s in report.sections if s.key == "headline")
    [block] = headline.blocks
    table = block.content
    assert len(table.columns) <= 8
    assert list(table.columns[:2]) == ["#", "model"]
    assert [c.split()[0] for c in table.columns[3:]] == ["pdcorr", "pds", "de_overlap", "rmse"]
    references = table[table["#"] == "ref."]["model"].tolist()
    assert references == ["technical_replicate (control)", "perturbed_mean (control)"]
    ranked = table[table["#"] != "ref."]
    assert ranked["model"].iloc[-1] == "fancy"  # worst by construction (quality 0)
    assert ranked["model"].iloc[0] == "perturbation_mean (baseline)"
    # no_change's correlations are undefined: counted as worst, so it is not ranked first there
    leaderboards = next(s for s in report.sections if s.key == "leaderboards")
    tables = [b for b in leaderboards.blocks if b.kind == "table"]
    assert tables and all(b.collapsed for b in tables)
    figures = [b for b in leaderboards.blocks if b.kind == "figure"]
    assert any(not b.collapsed for b in figures) and any(b.collapsed for b in figures)
    for line in report.summary:
        assert re.search(r"\d", line), line
    assert any("does not beat the best baseline" in line for line in report.summary)
    page = render_html(report)
    assert page.index('id="headline"') < page.index('id="leaderboards"')
