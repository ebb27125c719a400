"""The failure table of a run: one row per failed task, with a one-line error and where the full
traceback is, printed after every run that had failures; and the table of the tasks skipped as not
applicable (``PerturbationModel.not_applicable``), with their reasons."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

FAILURE_COLUMNS = ["task", "model", "error", "where", "record"]
NOT_APPLICABLE_COLUMNS = ["task", "model", "reason"]
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
MAX_ERROR = 160


def one_line(error: object, width: int = MAX_ERROR) -> str:
    """The first line of an error message, shortened to ``width`` characters."""
    text = str(error or "unknown error").strip().splitlines()
    line = text[0] if text else "unknown error"
    return line if len(line) <= width else line[: width - 1] + "…"


def raising_frame(traceback: object) -> str:
    """``file:line in function`` of the innermost frame of a formatted traceback ("" if none)."""
    frames = _FRAME.findall(str(traceback or ""))
    if not frames:
        return ""
    path, line, function = frames[-1]
    return f"{Path(path).name}:{line} in {function}"


def failure_table(records: pd.DataFrame, root: str | Path) -> pd.DataFrame:
    """The failed tasks of ``records`` (as ``ResultStore.records`` returns them): the task (dataset
    / scenario seed (variant)), the model, the one-line error, the innermost traceback frame and
    the record file holding the full traceback."""
    if records.empty or "status" not in records:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    failed = records[records["status"] == "failed"]
    rows = []
    for _, row in failed.iterrows():
        rows.append(
            {
                "task": _task_text(row),
                "model": str(row["model"]),
                "error": one_line(row.get("error")),
                "where": raising_frame(row.get("traceback")),
                "record": str(Path(root) / "tasks" / str(row["task_id"]) / "record.json"),
            }
        )
    return pd.DataFrame(rows, columns=FAILURE_COLUMNS)


def _task_text(row: pd.Series) -> str:
    variant = str(row.get("variant") or "default")
    return f"{row['dataset']} / {row['scenario']} seed {row['seed']} ({variant})"


def not_applicable_table(records: pd.DataFrame) -> pd.DataFrame:
    """The tasks of ``records`` skipped as not applicable: the task, the model and the reason."""
    if records.empty or "status" not in records:
        return pd.DataFrame(columns=NOT_APPLICABLE_COLUMNS)
    skipped = records[records["status"] == "not_applicable"]
    rows = [
        {"task": _task_text(row), "model": str(row["model"]), "reason": str(row.get("error"))}
        for _, row in skipped.iterrows()
    ]
    return pd.DataFrame(rows, columns=NOT_APPLICABLE_COLUMNS)


def not_applicable_text(table: pd.DataFrame) -> str:
    """The not-applicable table as plain text lines (one per model and reason)."""
    if table.empty:
        return ""
    lines = [f"{len(table)} task(s) not applicable, not fitted:"]
    for (model, reason), group in table.groupby(["model", "reason"], sort=True):
        lines.append(f"  {model} on {len(group)} task(s): {reason}")
    return "\n".join(lines)


def failure_text(table: pd.DataFrame, n_tasks: int) -> str:
    """The failure table as plain text lines, headed by how many tasks failed."""
    if table.empty:
        return ""
    every = "every task" if len(table) == n_tasks else f"of {n_tasks}"
    lines = [f"{len(table)} task(s) failed ({every}):"]
    for row in table.itertuples(index=False):
        lines.append(f"  {row.model} on {row.task}: {row.error}")
        where = f"raised at {row.where}; " if row.where else ""
        lines.append(f"      {where}traceback in {row.record}")
    return "\n".join(lines)
