"""The task grid of a spec without running it (``vcbench run SPEC --dry-run``).

The datasets are loaded (their fingerprints identify the splits) but nothing is split, fitted or
written: each task is listed with whether the output folder already holds its finished result
(``reused``) or it would run.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vcbench.data.fingerprint import fingerprint
from vcbench.models.registry import not_applicable_reason
from vcbench.runner.benchmark import SPLIT_FILE, load_entry
from vcbench.runner.grid import split_jobs, tasks_for
from vcbench.runner.spec import BenchmarkSpec
from vcbench.runner.store import ResultStore
from vcbench.runner.validate import validate_spec

PLAN_COLUMNS = ["dataset", "scenario", "variant", "seed", "model", "split", "status", "task_id"]


def plan(spec: BenchmarkSpec, *, force: bool = False) -> pd.DataFrame:
    """One row per task of ``spec``: its labels, whether its split is ``prepared`` or ``to make``,
    its ``status`` (``reused``: finished in the output folder; ``run``; ``not applicable``: the
    model cannot represent what the scenario holds out, so it will be recorded, not fitted; ``no
    predictions file``: a ``predictions`` entry whose file for this split does not exist yet) and
    its id.

    The spec is validated first (every problem at once). With ``force`` every task runs.
    """
    validate_spec(spec)
    store = ResultStore(spec.output)
    prints = {entry.name: fingerprint(load_entry(entry)) for entry in spec.datasets}
    splits = split_jobs(spec, prints)
    rows = []
    for task in tasks_for(spec, splits, store.root):
        job = task.split
        prepared = (store.split_dir(job.split_id) / SPLIT_FILE).exists()
        reused = not force and store.is_finished(task.task_id)
        path = task.model.params.get("path") if task.model.name == "predictions_file" else None
        status = "reused" if reused else "run"
        if not reused and not_applicable_reason(
            task.model.name, task.model.params, job.scenario.name, job.scenario.variant
        ):
            status = "not applicable"
        if path is not None and not reused and not Path(path).is_file():
            status = "no predictions file"  # the task would fail; the others run
        rows.append(
            {
                "dataset": job.dataset.name,
                "scenario": job.scenario.name,
                "variant": job.scenario.variant or "",
                "seed": job.seed,
                "model": task.model.result_name,
                "split": "prepared" if prepared and not force else "to make",
                "status": status,
                "task_id": task.task_id,
            }
        )
    return pd.DataFrame(rows, columns=PLAN_COLUMNS)
