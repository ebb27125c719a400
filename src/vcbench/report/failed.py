"""The report of a run without results: it says that every task failed (or was not applicable),
and lists why."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vcbench.report.build import Block, Report, Section
from vcbench.runner.failures import failure_table, not_applicable_table


def failed_run_report(records: pd.DataFrame | None, root: str | Path, title: str) -> Report:
    """A report for a results folder whose results table is empty."""
    records = records if records is not None else pd.DataFrame()
    table = failure_table(records, root)
    skipped = not_applicable_table(records)
    n_tasks = len(records)
    if n_tasks and len(table) == n_tasks:
        headline = f"Every task failed ({n_tasks} of {n_tasks}): there are no results to report."
    elif n_tasks and len(skipped) == n_tasks:
        headline = (
            f"No model was applicable to its scenario ({n_tasks} of {n_tasks} tasks): there "
            "are no results to report."
        )
    else:
        headline = "No task produced results, so there is nothing to rank or compare."
    section = Section(
        "failures",
        "Failed tasks",
        "One row per failed task: the first line of its error, the innermost frame of the "
        "traceback, and the record file that holds the whole traceback. Fix the cause and run "
        "the same command again: finished tasks are reused, failed ones run again.",
    )
    if table.empty:
        section.unavailable = (
            "no task failed" if n_tasks else "no task records in this folder (no task ran)"
        )
    else:
        section.blocks.append(Block("table", table, caption="Failures"))
    sections = [section]
    if not skipped.empty:
        sections.append(
            Section(
                "not_applicable",
                "Tasks not applicable",
                "One row per task whose model cannot represent what its scenario holds out "
                "(docs/models.md): it was recorded, not fitted.",
                blocks=[Block("table", skipped, caption="Not applicable")],
            )
        )
    return Report(title=title, summary=[headline], sections=sections)
