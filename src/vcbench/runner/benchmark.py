"""Run a benchmark spec: prepare each split once, run every model on it in isolation, keep going
past failures, and resume from the store on a re-run."""

from __future__ import annotations

import datetime
import functools
import platform
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import anndata as ad
import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

import vcbench
from vcbench.analysis.summary import summarise
from vcbench.data.fingerprint import fingerprint
from vcbench.data.loader import load_dataset
from vcbench.data.preprocess import select_hvgs
from vcbench.errors import VcbenchError
from vcbench.files import write_h5ad_atomic, write_json_atomic, write_table_atomic
from vcbench.metrics.truth_cache import TruthCache
from vcbench.models import get_model
from vcbench.runner.executors import Job, execute
from vcbench.runner.failures import failure_table, not_applicable_table
from vcbench.runner.grid import SplitJob, Task, split_jobs, tasks_for
from vcbench.runner.isolation import Outcome, limit_memory
from vcbench.runner.predictions import keep_prediction
from vcbench.runner.preload import import_serially, metric_imports, model_imports
from vcbench.runner.replicate import SCORED_CONTROLS
from vcbench.runner.spec import BenchmarkSpec, DatasetEntry
from vcbench.runner.split_inputs import DATA_FILE, SPLIT_FILE, forget, preload, split_inputs
from vcbench.runner.store import OutputLock, ResultStore
from vcbench.runner.task import run_model_timed
from vcbench.runner.validate import validate_spec
from vcbench.scenarios import make_split
from vcbench.scenarios.cross_dataset import prepare as prepare_cross_dataset
from vcbench.scenarios.io import save_split
from vcbench.scenarios.split import Split

RESULT_KEYS = ["dataset", "scenario", "variant", "seed", "model"]
SUMMARY_KEYS = ("dataset", "scenario", "variant", "model", "split_category", "metric")
TRUTH_CACHE_FILE = "truth_statistics.npz"


@dataclass(frozen=True)
class BenchmarkResult:
    """What a benchmark run produced (all of it also written under ``out``)."""

    results: pd.DataFrame
    records: pd.DataFrame
    summary: pd.DataFrame
    out: Path
    n_tasks: int
    n_reused: int

    @property
    def failures(self) -> pd.DataFrame:
        """Records of the tasks that failed."""
        if self.records.empty:
            return self.records
        return self.records[self.records["status"] == "failed"]

    @property
    def not_applicable_table(self) -> pd.DataFrame:
        """The tasks skipped as not applicable: task, model, reason (``failures``)."""
        return not_applicable_table(self.records)

    @property
    def failure_table(self) -> pd.DataFrame:
        """The failed tasks: task, model, one-line error, where it was raised, record file."""
        return failure_table(self.records, self.out)


def load_entry(entry: DatasetEntry) -> ad.AnnData:
    """The dataset of a spec entry, in the standard form: the demo, a registry name, or a file;
    only the cells matching its ``obs_query`` (printed and recorded in ``uns``) when it has one."""
    adata = _load_source(entry)
    if entry.obs_query:
        from vcbench.data.obs_query import apply_obs_query, describe_filter

        adata, record = apply_obs_query(adata, entry.obs_query, f"dataset {entry.name!r}")
        Console(stderr=True).print(describe_filter(record), highlight=False)
    return adata


def _load_source(entry: DatasetEntry) -> ad.AnnData:
    from vcbench.datasets import REGISTRY, demo, resolve_dataset

    if entry.source == "demo":
        return demo()
    if entry.source in REGISTRY:
        return resolve_dataset(entry.source)
    return load_dataset(
        entry.source,
        perturbation_key=entry.perturbation_key,
        context_key=entry.context_key,
        control=entry.control,
        dataset_key=entry.dataset_key,
        dose_key=entry.dose_key,
        dataset_name=entry.name,
    )


def prepare_split(adata: ad.AnnData, job: SplitJob) -> tuple[Split, ad.AnnData]:
    """The split and the data its models use: genes selected on the training cells only."""
    scenario = job.scenario
    split = make_split(adata, scenario.name, scenario.variant, seed=job.seed, **scenario.options)
    if split.scenario == "cross_dataset":  # count scaling and gene strategy are the split's own
        return split, _with_train_pca(prepare_cross_dataset(adata, split), split, job)
    genes = select_hvgs(adata, job.dataset.n_top_genes, cells=split.mask(adata, "train"))
    return split, _with_train_pca(adata[:, genes].copy(), split, job)


def _with_train_pca(data: ad.AnnData, split: Split, job: SplitJob) -> ad.AnnData:
    """With ``cell_embedding_key: vcb_train_pca``, ``obsm`` gets the split's training-cell PCA
    (``vcbench.data.cell_embedding``) of the prepared genes."""
    from vcbench.data.cell_embedding import TRAIN_PCA_KEY, train_pca_embedding

    if job.dataset.cell_embedding_key == TRAIN_PCA_KEY:
        data.obsm[TRAIN_PCA_KEY] = train_pca_embedding(
            data, split.mask(data, "train"), seed=job.seed
        )
    return data


@functools.cache
def _package_versions() -> tuple[tuple[str, str], ...]:
    """(name, version) of vcbench, python and the main libraries (read once per process)."""
    names = ("anndata", "scanpy", "numpy", "scipy", "pandas", "scikit-learn", "torch")
    found = {"vcbench": vcbench.__version__, "python": platform.python_version()}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return tuple(found.items())


def _versions() -> dict[str, str]:
    return dict(_package_versions())


def run_metadata(spec: BenchmarkSpec, extra: dict[str, object] | None = None) -> dict[str, object]:
    """What ``run.json`` records: the spec that ran (after any overrides), the overrides and other
    caller metadata, the versions and the start time."""
    return {
        **(extra or {}),
        "spec": spec.model_dump(mode="json"),
        "versions": _versions(),
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def execute_task(task: Task, keep_predictions: str = "pseudobulk") -> dict[str, object]:
    """Run one task (in its own process) and write its results; returns its timings and the
    warnings it raised (kept in the task's record rather than printed). ``keep_predictions``:
    what of the prediction to keep (:mod:`vcbench.runner.predictions`)."""
    limit_memory(task.memory_limit)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data, split = split_inputs(task.split_dir)
        metrics = task.metrics if isinstance(task.metrics, str) else list(task.metrics)
        truth_cache = TruthCache.load(task.split_dir / TRUTH_CACHE_FILE)
        if task.model.name in SCORED_CONTROLS:  # these controls are scored, not fitted
            start = time.perf_counter()
            scores = SCORED_CONTROLS[task.model.name](
                data, split, metrics, task.split.seed, truth_cache
            )
            timings = {"evaluate_seconds": time.perf_counter() - start}
        else:
            model = get_model(task.model.name, **task.model.params)

            def keep(prediction: ad.AnnData, truth: ad.AnnData) -> None:
                keep_prediction(prediction, truth, task.task_dir, task.split_dir, keep_predictions)

            scores, timings = run_model_timed(
                data,
                split,
                model,
                metrics,
                truth_cache=truth_cache,
                keep=keep,
                held_out_seed=task.split.seed if task.held_out_half else None,
                negatives=task.negatives,
            )
        if truth_cache.misses:  # the split's next models reuse the truth-side statistics
            truth_cache.save(task.split_dir / TRUTH_CACHE_FILE)
    job = task.split
    labels = [
        job.dataset.name,
        job.scenario.name,
        split.variant or "",
        job.seed,
        task.model.result_name,
    ]
    for position, (key, value) in enumerate(zip(RESULT_KEYS, labels, strict=True)):
        scores.insert(position, key, value)
    write_table_atomic(scores, task.task_dir / "results.parquet")
    messages = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return {**timings, "warnings": messages}


def _record(task: Task, outcome: Outcome) -> dict[str, object]:
    job = task.split
    return {
        "task_id": task.task_id,
        "status": outcome.status,
        "error": outcome.error,
        "traceback": outcome.traceback,
        "dataset": job.dataset.name,
        "scenario": job.scenario.name,
        "variant": job.scenario.variant or "",
        "options": job.scenario.options,
        "seed": job.seed,
        "split_id": job.split_id,
        "model": task.model.result_name,
        "model_name": task.model.name,
        "model_params": task.model.params,
        "metrics": task.metrics,
        **(outcome.value or {}),
        "wall_seconds": outcome.wall_seconds,
        "cpu_seconds": outcome.cpu_seconds,
        "peak_memory_mib": outcome.peak_memory_mib,
        "versions": _versions(),
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def prepare_splits(spec: BenchmarkSpec, store: ResultStore, force: bool) -> list[SplitJob]:
    """Make, check and preprocess every split of ``spec`` that the store does not hold yet."""
    datasets = {entry.name: load_entry(entry) for entry in spec.datasets}
    jobs = split_jobs(spec, {name: fingerprint(adata) for name, adata in datasets.items()})
    for job in jobs:
        folder = store.split_dir(job.split_id)
        if not force and (folder / SPLIT_FILE).exists() and (folder / DATA_FILE).exists():
            continue
        split, data = prepare_split(datasets[job.dataset.name], job)
        write_h5ad_atomic(data, folder / DATA_FILE)
        save_split(
            split, folder / SPLIT_FILE
        )  # written last: a split is ready when its file exists
    return jobs


def _progress(total: int, console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}", table_column=None),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,  # quiet in logs and pipes
        transient=True,
    )


def _task_label(task: Task, width: int = 36) -> str:
    """The progress bar's name of a task: model, scenario/variant and seed, at most ``width``."""
    job = task.split
    scenario = job.scenario.name + (f"/{job.scenario.variant}" if job.scenario.variant else "")
    label = f"{task.model.result_name} {scenario} s{job.seed}"
    return label if len(label) <= width else label[: width - 1] + "…"


def spread_over_splits(tasks: list[Task]) -> list[Task]:
    """``tasks`` with every split's first task before any split's second (order otherwise kept).

    Parallel jobs then start on different splits, so each split's truth statistics are computed
    once (by its first task) and read from the split's folder by the rest.
    """
    seen: dict[str, int] = {}
    ranked = []
    for index, task in enumerate(tasks):
        rank = seen.get(task.split.split_id, 0)
        seen[task.split.split_id] = rank + 1
        ranked.append((rank, index, task))
    return [task for _, _, task in sorted(ranked, key=lambda item: item[:2])]


def _run_pending(
    spec: BenchmarkSpec, pending: list[Task], store: ResultStore, console: Console
) -> Iterator[Task]:
    jobs = [
        Job(
            task.task_id,
            execute_task,
            (task, spec.keep_predictions),
            model_imports(task.model.name) + metric_imports(task.metrics),
        )
        for task in pending
    ]
    if spec.executor != "dask":  # the forked task processes inherit the warmed kernels
        import_serially(
            sorted({entry for task in pending for entry in metric_imports(task.metrics)})
        )
    by_key = {task.task_id: task for task in pending}
    with _progress(len(jobs), console) as progress:
        bar = progress.add_task(
            _task_label(pending[0]) if pending else "", total=len(jobs), failed=0
        )
        failed, done = 0, set()  # the bar names the first unfinished task (serial: the running one)
        for job, outcome in execute(
            jobs,
            spec.executor,
            n_jobs=spec.jobs,
            scheduler=spec.scheduler,
            time_limit=spec.time_limit,
        ):
            task = by_key[job.key]
            store.write_record(task.task_id, _record(task, outcome))
            failed += outcome.status == "failed"
            done.add(task.task_id)
            running = next((t for t in pending if t.task_id not in done), task)
            progress.update(bar, advance=1, failed=failed, description=_task_label(running))
            yield task


def run_benchmark(
    spec: BenchmarkSpec,
    *,
    force: bool = False,
    console: Console | None = None,
    lock_wait: float = 0.0,
    metadata: dict[str, object] | None = None,
) -> BenchmarkResult:
    """Run every task of ``spec`` that has not finished yet and write the combined tables.

    The whole spec is checked first (``validate.validate_spec``: every problem at once, nothing
    run). ``metadata`` (e.g. the overrides applied to the spec) goes into ``run.json`` with the spec
    that ran. Writes ``results.parquet`` (tidy: one row per dataset × scenario × seed × model × condition ×
    metric), ``records.parquet`` (one row per task: status, error, timings, peak memory, versions)
    and ``summary.parquet``/``summary.csv`` to ``spec.output``. A model that is not applicable to a
    task's scenario (``PerturbationModel.not_applicable``) is not fitted: its record has status
    ``not_applicable`` and the reason in ``error``. One run writes to a folder at a
    time (``OutputLock``): another run on it makes this one wait up to ``lock_wait`` seconds, then
    refuse (``FolderBusyError``).
    """
    validate_spec(spec)  # before the lock creates the output folder: a bad spec writes nothing
    with OutputLock(spec.output, wait=lock_wait):
        return _run_benchmark(spec, force, console, metadata)


def _run_benchmark(
    spec: BenchmarkSpec, force: bool, console: Console | None, metadata: dict[str, object] | None
) -> BenchmarkResult:
    console = console or Console(stderr=True)
    store = ResultStore(spec.output)
    write_json_atomic(run_metadata(spec, metadata), store.root / "run.json")
    try:
        splits = prepare_splits(spec, store, force)
    except VcbenchError:
        raise
    except Exception as exc:  # a bug or an unexpected input while splitting: say where
        raise VcbenchError(
            f"Preparing the splits failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        ) from exc
    tasks = tasks_for(spec, splits, store.root)
    pending = spread_over_splits([t for t in tasks if force or not store.is_finished(t.task_id)])
    preload(t.split_dir for t in pending)  # read once here, inherited by the forked tasks
    try:
        for _ in _run_pending(spec, pending, store, console):
            pass
    finally:
        forget()
    ids = [t.task_id for t in tasks]
    results = store.results(ids)
    if not results.empty:
        results = results.sort_values(
            [*RESULT_KEYS, "context", "perturbation", "metric"], kind="stable"
        ).reset_index(drop=True)
    records = store.records(ids)
    summary = summarise(results, by=SUMMARY_KEYS) if not results.empty else pd.DataFrame()
    out = store.root
    write_table_atomic(results, out / "results.parquet")
    write_table_atomic(
        records.astype({c: str for c in records.columns if records[c].dtype == object}),
        out / "records.parquet",
    )
    write_table_atomic(summary, out / "summary.parquet")
    write_table_atomic(summary, out / "summary.csv")
    return BenchmarkResult(results, records, summary, out, len(tasks), len(tasks) - len(pending))
