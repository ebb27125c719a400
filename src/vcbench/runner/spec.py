"""The benchmark spec: a YAML file validated with pydantic.

Errors name the bad key, its line in the file and what is expected. See ``EXAMPLE_SPEC`` (written by
``vcbench init``) for every key with a comment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vcbench import defaults
from vcbench.errors import SpecError
from vcbench.names import check_path_label
from vcbench.runner.isolation import parse_memory
from vcbench.threads import cores

DEFAULT_TIME_LIMIT = 7200.0  # 2 h: generous for one model on one split, but a hang ends


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetEntry(_Strict):
    """A dataset: where it comes from and which obs columns mean what."""

    name: str = Field(description="Label of the dataset in the results.")
    source: str = Field(description="'demo', a registry dataset name, or a path to an .h5ad file.")
    perturbation_key: str = defaults.PERTURBATION_KEY
    context_key: str | None = defaults.CONTEXT_KEY
    control: str | list[str] = defaults.CONTROL
    dataset_key: str | None = None
    dose_key: str | None = None
    obs_query: str | None = Field(
        None, description='Keep only cells matching this pandas query on obs, e.g. "time == 24".'
    )
    n_top_genes: int = Field(
        2000, ge=1, description="HVGs selected on each split's training cells."
    )
    cell_embedding_key: str | None = Field(
        None,
        description="obsm key of a cell embedding that the models taking one use as their cell "
        "input (vcbench.models.cell_inputs); 'vcb_train_pca': a PCA fitted on each split's "
        "training cells.",
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, name: str) -> str:
        return check_path_label(name, "dataset name")


class ScenarioEntry(_Strict):
    """A scenario with its variant, options and seeds."""

    name: str
    variant: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    seeds: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: [0, 1, 2], min_length=1
    )
    datasets: list[str] | None = Field(None, description="Dataset names to run on; default all.")

    @field_validator("name", "variant")
    @classmethod
    def _safe_name(cls, name: str | None) -> str | None:
        return None if name is None else check_path_label(name, "scenario name or variant")


class ModelEntry(_Strict):
    """A model: a registered name or an import path ``module:Class``, with its parameters; or, with
    ``predictions``, a model run outside vcbench whose prediction files are scored (``name`` is
    then its label)."""

    name: str
    label: str | None = Field(None, description="Name in the results; default: the model's name.")
    params: dict[str, Any] = Field(default_factory=dict)
    predictions: str | None = Field(
        None,
        description="Path pattern of prediction files made outside vcbench, one per split; "
        "placeholders {split}, {dataset}, {scenario}, {variant}, {seed}.",
    )

    @model_validator(mode="after")
    def _predictions_take_no_params(self) -> ModelEntry:
        if self.predictions is not None and self.params:
            raise ValueError(
                "a model given by `predictions` files takes no `params` (it is not run by vcbench)"
            )
        return self

    @model_validator(mode="after")
    def _safe_result_name(self) -> ModelEntry:
        check_path_label(self.result_name, "model label")
        return self

    @property
    def result_name(self) -> str:
        """The model's name in the results."""
        return self.label or self.name


class BenchmarkSpec(_Strict):
    """A whole benchmark: datasets × scenarios × seeds × models, scored with one metric profile."""

    output: Path = Path("results")
    metrics: str | list[str] = defaults.METRICS
    executor: Literal["serial", "processes", "dask"] = "serial"
    jobs: int = Field(
        default_factory=cores,
        ge=1,
        description="Tasks run side by side (processes, dask); default: one per core.",
    )
    scheduler: str | None = Field(None, description="Dask scheduler address (tcp://HOST:PORT).")
    time_limit: float | None = Field(
        DEFAULT_TIME_LIMIT, gt=0, description="Seconds a task may take (null: no limit)."
    )
    memory_limit: int | None = Field(
        None, description="Memory a task may use, e.g. 8GB (its address space; null: no cap)."
    )
    calibration: bool = Field(
        True,
        description="Add the calibration controls perturbed_mean, no_change, collapse_control "
        "and technical_replicate (docs/report.md, docs/validity.md).",
    )
    keep_predictions: Literal["pseudobulk", "cells", "none"] = Field(
        "pseudobulk",
        description="Keep each task's prediction: per-condition means, all cells, none.",
    )
    negative_predictions: Literal["clip", "warn", "error"] = Field(
        "clip",
        description="What a negative predicted value on log-normalised data becomes: clipped at 0 "
        "(default), kept with a warning, or a failed task; counted in every task's record "
        "(vcbench.runner.negatives).",
    )
    datasets: list[DatasetEntry] = Field(min_length=1)
    scenarios: list[ScenarioEntry] = Field(min_length=1)
    models: list[ModelEntry] = Field(min_length=1)

    @field_validator("memory_limit", mode="before")
    @classmethod
    def _memory_size(cls, value: Any) -> int | None:
        return None if value is None else parse_memory(value)

    @field_validator("datasets", "models")
    @classmethod
    def _unique_names(cls, entries: list[Any]) -> list[Any]:
        names = [getattr(e, "result_name", None) or e.name for e in entries]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"names must be unique; repeated: {repeated} (give each a distinct name/label)"
            )
        return entries

    @model_validator(mode="after")
    def _scenario_datasets_exist(self) -> BenchmarkSpec:
        known = {d.name for d in self.datasets}
        for scenario in self.scenarios:
            unknown = sorted(set(scenario.datasets or []) - known)
            if unknown:
                raise ValueError(
                    f"scenario {scenario.name!r} names unknown dataset(s) {unknown}; datasets: {sorted(known)}"
                )
        return self


def _node_at(node: yaml.Node | None, location: tuple[int | str, ...]) -> yaml.Node | None:
    """The deepest YAML node along a pydantic error location."""
    for part in location:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            match = next((value for key, value in node.value if key.value == part), None)
            if match is None:
                return node
            node = match
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            return node
    return node


def parse_spec(text: str, source: str = "<spec>") -> BenchmarkSpec:
    """Validate a spec given as YAML text."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(
            f"{source} must be a YAML mapping with keys datasets, scenarios, models (see `vcbench init`)."
        )
    try:
        return BenchmarkSpec.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = tuple(error["loc"])
            node = _node_at(root, location)
            line = f"line {node.start_mark.line + 1}" if node is not None else "?"
            key = ".".join(map(str, location)) or "(top level)"
            message = (
                "unknown key (check its spelling)"
                if error["type"] == "extra_forbidden"
                else error["msg"]
            )
            problems.append(f"  {source}, {line}: {key}: {message}")
        raise SpecError("The benchmark spec is invalid:\n" + "\n".join(problems)) from None


def load_spec(path: str | Path) -> BenchmarkSpec:
    """Read and validate a benchmark spec file."""
    path = Path(path)
    if not path.exists():
        raise SpecError(
            f"Spec file not found: {path}. Write an example with `vcbench init {path}`."
        )
    return parse_spec(path.read_text(), str(path))


EXAMPLE_SPEC = """\
# vcbench benchmark spec. Run it with: vcbench run THIS_FILE.yaml
output: results/my_benchmark   # results, records and the report go here
metrics: full                  # a metric profile (paper, fast, full) or a list of metric names
executor: serial               # serial | processes | dask
jobs: 2                        # worker processes (processes, dask LocalCluster); default: one per core
scheduler: null                # dask only: tcp://HOST:PORT of an existing cluster
time_limit: 7200               # seconds a task may take before it is recorded as failed (null: none)
memory_limit: null             # memory a task may use, e.g. 8GB (recorded as "out of memory")
calibration: true              # add the calibration controls (docs/validity.md)
keep_predictions: pseudobulk   # keep predictions as h5ad: pseudobulk (per-condition means) | cells | none
negative_predictions: clip     # negative predicted values: clip (at 0) | warn (keep) | error (fail the task)

datasets:
  - name: demo                 # label in the results
    source: demo               # 'demo', a registry dataset name, or a path to an .h5ad file
    perturbation_key: condition
    context_key: cell_type
    control: control           # one label or a list of labels
    dataset_key: dataset       # obs column naming each cell's dataset (null: one dataset)
    dose_key: null
    n_top_genes: 2000          # HVGs selected on each split's training cells
    cell_embedding_key: null   # obsm key of a cell embedding for the models that take one
                               # (vcb_train_pca: a PCA fitted on each split's training cells)

scenarios:                     # see `vcbench split --help` and docs/scenarios.md
  - name: perturbation         # context | perturbation | cross_dataset
    variant: combo             # held-out singles and combinations (GEARS-style categories)
    options: {context: k562}
    seeds: [0, 1, 2]
  # - name: context            # unseen cell line: hold out whole contexts
  #   variant: strict          # random | strict | leave_one_out | few_shot
  #   options: {contexts: [A172, T98G, U87MG]}

models:
  - name: no_change
  - name: perturbed_mean
  # - name: mypackage.models:MyModel   # your own class, by import path
  #   label: my_model
  #   params: {alpha: 0.1}
"""
