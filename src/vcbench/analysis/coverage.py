"""Representation coverage per task and model, from the runner's records and result notes.

``coverage`` is the mean over seeds of a task's ``representation_coverage`` (records.parquet: the
share of the distinct test perturbations all of whose targets have a representation in the fitted
model's featuriser; ``vcbench.runner.coverage``), ``min_coverage`` its smallest value over seeds,
``n_seeds`` the seeds that recorded one, ``uncovered`` the distinct perturbations whose result rows
carry the runner's "no representation" note (over all seeds) and ``examples`` the first of them by
name. Models without a featuriser record no coverage and have no row.
"""

from __future__ import annotations

import pandas as pd

from vcbench.analysis.common import TASK

COVERAGE = "representation_coverage"
COVERAGE_COLUMNS = [*TASK, "model", "coverage", "min_coverage", "n_seeds", "uncovered", "examples"]


def representation_coverage(
    records: pd.DataFrame | None, results: pd.DataFrame | None = None, n_examples: int = 3
) -> pd.DataFrame:
    """Coverage per (task, model) (module doc; columns :data:`COVERAGE_COLUMNS`), ordered as the
    records; empty when no task recorded a coverage."""
    if records is None or COVERAGE not in records.columns:
        return pd.DataFrame(columns=COVERAGE_COLUMNS)
    from vcbench.runner.coverage import UNCOVERED_NOTE

    rows = records.assign(_value=pd.to_numeric(records[COVERAGE], errors="coerce"))
    rows = rows.dropna(subset=["_value"])
    if rows.empty:
        return pd.DataFrame(columns=COVERAGE_COLUMNS)
    keys = [*TASK, "model"]
    table = (
        rows.groupby(keys, sort=False, observed=True)["_value"]
        .agg(coverage="mean", min_coverage="min", n_seeds="size")
        .reset_index()
    )
    missing: dict[tuple[str, ...], list[str]] = {}
    if results is not None and "note" in results.columns:
        noted = results[results["note"].fillna("").astype(str).str.contains(UNCOVERED_NOTE)]
        for key, group in noted.groupby(keys, sort=False, observed=True):
            missing[tuple(map(str, key))] = sorted(set(group["perturbation"].astype(str)))
    names = [missing.get(tuple(map(str, key)), []) for key in table[keys].itertuples(index=False)]
    table["uncovered"] = [len(n) for n in names]
    table["examples"] = [
        ", ".join(n[:n_examples]) + (", …" if len(n) > n_examples else "") for n in names
    ]
    return table[COVERAGE_COLUMNS]
