"""Expand a benchmark spec into splits (once per dataset × scenario × seed) and tasks (× model)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import vcbench
from vcbench.names import check_path_label
from vcbench.runner.spec import BenchmarkSpec, DatasetEntry, ModelEntry, ScenarioEntry
from vcbench.runner.store import task_id


@dataclass(frozen=True)
class SplitJob:
    """One split of one dataset: made and prepared once, shared by every model."""

    split_id: str
    dataset: DatasetEntry
    scenario: ScenarioEntry
    seed: int

    @property
    def folder(self) -> str:
        """A readable relative folder of the split: ``DATASET/SCENARIO-VARIANT/seedSEED`` (each part
        checked to be one safe path component, see ``vcbench.names``)."""
        variant = self.scenario.variant or "default"
        dataset = check_path_label(self.dataset.name, "dataset name")
        scenario = check_path_label(f"{self.scenario.name}-{variant}", "scenario name or variant")
        return f"{dataset}/{scenario}/seed{self.seed}"

    def predictions_path(self, pattern: str) -> Path:
        """A ``predictions`` pattern filled in for this split."""
        return Path(
            pattern.format(
                split=self.folder,
                dataset=check_path_label(self.dataset.name, "dataset name"),
                scenario=check_path_label(self.scenario.name, "scenario name"),
                variant=check_path_label(self.scenario.variant or "default", "scenario variant"),
                seed=self.seed,
            )
        )


@dataclass(frozen=True)
class Task:
    """One model on one split. ``task_id`` hashes everything that determines its result."""

    task_id: str
    split: SplitJob
    model: ModelEntry
    metrics: str | tuple[str, ...]
    split_dir: Path
    task_dir: Path
    memory_limit: int | None = None  # bytes; a limit, not part of the identity
    held_out_half: bool = False  # scored on half B of the test cells (runner.halves)
    negatives: str = "clip"  # the negative-value policy (runner.negatives)


def split_jobs(spec: BenchmarkSpec, fingerprints: dict[str, str]) -> list[SplitJob]:
    """Every (dataset, scenario, seed) of the spec, identified by a content hash."""
    jobs = []
    for scenario in spec.scenarios:
        for dataset in spec.datasets:
            if scenario.datasets is not None and dataset.name not in scenario.datasets:
                continue
            for seed in scenario.seeds:
                identity = {
                    "data": fingerprints[dataset.name],
                    "n_top_genes": dataset.n_top_genes,
                    # set only with a key: the identities of earlier splits stay as they were
                    **(
                        {"cell_embedding_key": dataset.cell_embedding_key}
                        if dataset.cell_embedding_key is not None
                        else {}
                    ),
                    "scenario": scenario.name,
                    "variant": scenario.variant,
                    "options": scenario.options,
                    "seed": seed,
                    "version": vcbench.__version__,
                }
                jobs.append(SplitJob(task_id(identity), dataset, scenario, seed))
    return jobs


CALIBRATION_MODELS = tuple(
    ModelEntry(name=name)
    for name in ("perturbed_mean", "no_change", "technical_replicate", "collapse_control")
)
SCORED_CONTROL_NAMES = ("technical_replicate", "collapse_control")


def models_of(spec: BenchmarkSpec) -> list[ModelEntry]:
    """The spec's models plus, with ``calibration``, the negative controls (``perturbed_mean``,
    ``no_change``, ``collapse_control``) and the positive control (``technical_replicate``) when
    the spec does not name them."""
    models = list(spec.models)
    if spec.calibration:
        present = {m.result_name for m in models}
        models += [m for m in CALIBRATION_MODELS if m.name not in present]
    return models


def _file_digest(path: Path) -> str:
    """The SHA-256 of a file ("missing" when there is none), so a changed file is scored again."""
    if not path.is_file():
        return "missing"
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_model(model: ModelEntry, split: SplitJob) -> tuple[ModelEntry, dict[str, str]]:
    """The model a task runs: a ``predictions`` entry becomes the ``predictions_file`` model with
    this split's file; also returns what identifies that file (its path and content hash)."""
    if model.predictions is None:
        return model, {}
    path = split.predictions_path(model.predictions)
    entry = ModelEntry(name="predictions_file", label=model.result_name, params={"path": str(path)})
    return entry, {"predictions_sha256": _file_digest(path)}


def with_cell_embedding(model: ModelEntry, dataset: DatasetEntry) -> ModelEntry:
    """The model with the dataset's ``cell_embedding_key`` among its params when it takes one
    (``vcbench.models.cell_inputs``) and its params do not set the key themselves (``null`` there
    keeps the model on expression); the params are part of the task's identity."""
    from vcbench.models.cell_inputs import CELL_EMBEDDING_PARAM
    from vcbench.models.registry import takes_cell_embedding

    key = dataset.cell_embedding_key
    if key is None or model.predictions is not None or CELL_EMBEDDING_PARAM in model.params:
        return model
    if not takes_cell_embedding(model.name):
        return model
    return model.model_copy(update={"params": {**model.params, CELL_EMBEDDING_PARAM: key}})


def tasks_for(spec: BenchmarkSpec, splits: list[SplitJob], root: Path) -> list[Task]:
    """Every (split, model) pair of the spec (calibration controls included, see ``models_of``);
    a dataset's ``cell_embedding_key`` goes to the models that take it (``with_cell_embedding``)."""
    metrics = spec.metrics if isinstance(spec.metrics, str) else tuple(spec.metrics)
    tasks = []
    held_out = any(m.name in SCORED_CONTROL_NAMES for m in models_of(spec))
    for split in splits:
        for listed in models_of(spec):
            listed = with_cell_embedding(listed, split.dataset)
            model, file_identity = resolve_model(listed, split)
            identity = {
                "split": split.split_id,
                "model": model.name,
                "params": model.params,
                "metrics": metrics,
                "version": vcbench.__version__,
                **file_identity,
                **({"held_out_half": True} if held_out else {}),
                # the default keeps the identity of results made before the policy existed
                **(
                    {"negatives": spec.negative_predictions}
                    if spec.negative_predictions != "clip"
                    else {}
                ),
            }
            tid = task_id(identity)
            tasks.append(
                Task(
                    tid,
                    split,
                    model,
                    metrics,
                    root / "splits" / split.split_id,
                    root / "tasks" / tid,
                    spec.memory_limit,
                    held_out,
                    spec.negative_predictions,
                )
            )
    return tasks
