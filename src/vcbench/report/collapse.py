"""The collapse warning: which models predict (nearly) one effect for every perturbation.

Reads the task-level collapse diagnostic that the runner records (``effect_diversity``,
``effect_correlation``; definitions in ``vcbench.metrics.collapse``) from ``records.parquet``,
averages it over the seeds of each (dataset, scenario, variant, model), and flags a model as
*collapsed* on a task when its mean effect diversity is below ``DIVERSITY_BELOW`` or its mean effect
correlation is above ``CORRELATION_ABOVE``. ``no_change`` and the calibration controls
(``perturbed_mean``, the collapse control) predict one effect by construction: they are listed,
never flagged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vcbench.analysis.common import TASK, role, simple_name

if TYPE_CHECKING:
    from vcbench.report.build import Section

DIVERSITY_BELOW = 0.1
CORRELATION_ABOVE = 0.98
FIELDS = ("effect_diversity", "effect_correlation")
BY_CONSTRUCTION = ("no_change",)  # besides the controls: one effect (none) for all


def _constant_by_design(model: str) -> bool:
    return role(model) == "control" or simple_name(model) in BY_CONSTRUCTION


def collapse_table(records: pd.DataFrame | None) -> pd.DataFrame | None:
    """Per (dataset, scenario, variant, model): the mean ``effect_diversity`` and
    ``effect_correlation`` over the finished tasks' seeds, ``collapsed`` (the thresholds) and
    ``by_design``; None when the records hold no diagnostic."""
    if records is None or records.empty or not set(FIELDS) <= set(records.columns):
        return None
    done = records[records["status"] == "ok"].dropna(subset=list(FIELDS), how="all")
    if done.empty:
        return None
    table = (
        done.astype({field: float for field in FIELDS})
        .groupby([*TASK, "model"], sort=False)[list(FIELDS)]
        .mean()
        .reset_index()
    )
    table["by_design"] = table["model"].astype(str).map(_constant_by_design)
    with np.errstate(invalid="ignore"):
        table["collapsed"] = (table["effect_diversity"] < DIVERSITY_BELOW) | (
            table["effect_correlation"] > CORRELATION_ABOVE
        )
    return table


def collapse_warnings(records: pd.DataFrame | None) -> list[str]:
    """One warning line per task with collapsed models (constant-by-design models excepted)."""
    table = collapse_table(records)
    if table is None:
        return []
    flagged = table[table["collapsed"] & ~table["by_design"]]
    lines = []
    for task, rows in flagged.groupby(TASK, sort=False):
        label = "/".join(str(part) for part in task if part)
        which = ", ".join(
            f"{r.model} (diversity {r.effect_diversity:.2g}, correlation {r.effect_correlation:.3f})"
            for r in rows.itertuples()
        )
        lines.append(
            f"Collapse on {label}: {which} predict(s) nearly one effect for every perturbation "
            f"(effect diversity < {DIVERSITY_BELOW} or effect correlation > {CORRELATION_ABOVE})."
        )
    return lines


def collapse_summary(records: pd.DataFrame | None) -> list[str]:
    """The report's findings line: the collapsed models (constant-by-design ones excepted), at
    most one short line (the section and the terminal give the numbers per task)."""
    table = collapse_table(records)
    if table is None:
        return []
    models = table.loc[table["collapsed"] & ~table["by_design"], "model"].astype(str)
    if models.empty:
        return []
    return [
        f"Collapse: {', '.join(dict.fromkeys(models))} predict(s) nearly one effect for every "
        "perturbation on some task (see the collapse diagnostic)."
    ]


def collapse(ctx: object) -> Section:
    """The report's "collapse" section from ``ctx.records`` (a ``report.build`` context)."""
    from vcbench.report.build import Block, Section
    from vcbench.report.tables import fmt

    section = Section(
        "collapse",
        "Collapse diagnostic",
        "Does a model predict nearly one effect for every perturbation? Effect diversity: the "
        "between-perturbation sd of the predicted deltas (vs the context's control mean), per gene, "
        "averaged over genes, divided by the same of the observed deltas (1 = as varied as the "
        "truth, 0 = one effect for all). Effect correlation: the mean Pearson correlation of the "
        "predicted deltas of two test perturbations. Means over seeds; flagged when diversity < "
        f"{DIVERSITY_BELOW} or correlation > {CORRELATION_ABOVE}. no_change and the controls "
        "predict one effect by construction.",
    )
    table = collapse_table(getattr(ctx, "records", None))
    if table is None:
        section.unavailable = "no effect_diversity in records.parquet (no fitted model finished)"
        return section
    for line in collapse_warnings(ctx.records):  # type: ignore[attr-defined]
        section.blocks.append(Block("text", line))
    shown = table.assign(
        flag=np.where(
            table["by_design"], "by design", np.where(table["collapsed"], "COLLAPSED", "")
        )
    ).drop(columns=["by_design", "collapsed"])
    shown[list(FIELDS)] = shown[list(FIELDS)].map(fmt)
    shown = shown.rename(
        columns={"effect_diversity": "effect diversity", "effect_correlation": "effect correlation"}
    )
    section.blocks.append(Block("table", shown, "Collapse diagnostic per task and model"))
    return section
