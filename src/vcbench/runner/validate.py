"""Check a whole benchmark spec before anything runs, and list every problem at once.

``spec_problems`` looks at every model (registered name or ``module:Class`` import path, its extra,
its ``params`` against the constructor, its ``predictions`` pattern), the metric names, every scenario
(name, variant, options, seeds) and every dataset (source, obs columns, its ``obs_query`` on the file's obs,
its ``cell_embedding_key`` in the file's obsm, and that of every model that names one), with a
did-you-mean for misspelt names. ``validate_spec`` raises one ``SpecError`` listing them all, with
the line of each in the YAML file when the text is given. Nothing is fitted, split or scored.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcbench.errors import SpecError
from vcbench.runner.spec import BenchmarkSpec, DatasetEntry, ModelEntry, ScenarioEntry
from vcbench.suggest import did_you_mean

PLACEHOLDERS = ("split", "dataset", "scenario", "variant", "seed")


@dataclass(frozen=True)
class Problem:
    """One problem of a spec: where (a key path such as ``models.0.name``) and what."""

    location: tuple[int | str, ...]
    message: str

    @property
    def key(self) -> str:
        """The location as a dotted key."""
        return ".".join(map(str, self.location))


def _model_problems(index: int, model: ModelEntry) -> list[Problem]:
    from vcbench.models.registry import model_problems

    here: tuple[int | str, ...] = ("models", index)
    if model.predictions is not None:
        return _predictions_problems(here, model)
    problems = []
    for text in model_problems(model.name, dict(model.params)):
        if text.startswith("params: "):
            problems.append(Problem((*here, "params"), text.removeprefix("params: ")))
        else:
            problems.append(Problem((*here, "name"), text))
    return problems


def _predictions_problems(here: tuple[int | str, ...], model: ModelEntry) -> list[Problem]:
    pattern = model.predictions or ""
    fields = {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
    unknown = sorted(fields - set(PLACEHOLDERS))
    if unknown:
        return [
            Problem(
                (*here, "predictions"),
                f"unknown placeholder(s) {unknown} in {pattern!r}; placeholders: "
                f"{list(PLACEHOLDERS)}",
            )
        ]
    return []  # a missing file fails its own task only (others run): see ``plan`` for a list


def _scenario_problems(index: int, scenario: ScenarioEntry) -> list[Problem]:
    from vcbench.scenarios.registry import SCENARIOS, options_of

    here: tuple[int | str, ...] = ("scenarios", index)
    problems: list[Problem] = []  # negative seeds: the spec model refuses them (runner/spec.py)
    if scenario.name not in SCENARIOS:
        hint = did_you_mean(scenario.name, SCENARIOS)
        problems.append(
            Problem(
                (*here, "name"),
                f"unknown scenario {scenario.name!r}{hint}; scenarios: {list(SCENARIOS)}",
            )
        )
        return problems
    variants = SCENARIOS[scenario.name]
    variant = scenario.variant or next(iter(variants))
    if variant not in variants:
        problems.append(
            Problem(
                (*here, "variant"),
                f"scenario {scenario.name!r} has no variant {variant!r}"
                f"{did_you_mean(variant, variants)}; variants: {list(variants)}",
            )
        )
        return problems
    accepted = options_of(scenario.name, variant)
    for option in scenario.options:
        if option not in accepted:
            problems.append(
                Problem(
                    (*here, "options", option),
                    f"{scenario.name}/{variant} takes no option {option!r}"
                    f"{did_you_mean(option, accepted)}; it takes {accepted}",
                )
            )
    return problems


def _obs_columns(path: Path) -> list[str] | None:
    """The obs column names of an ``.h5ad`` file, read without loading it (None if unreadable)."""
    try:
        import h5py

        with h5py.File(path, "r") as handle:
            obs = handle["obs"]
            order = obs.attrs.get("column-order", list(obs.keys()))
            return [str(name) for name in order]
    except Exception:  # not HDF5 or another layout: the loader will say what is wrong
        return None


def _obsm_keys(path: Path) -> list[str] | None:
    """The obsm keys of an ``.h5ad`` file, read without loading it (None if unreadable)."""
    try:
        import h5py

        with h5py.File(path, "r") as handle:
            return [str(name) for name in handle["obsm"]] if "obsm" in handle else []
    except Exception:  # not HDF5 or another layout: the loader will say what is wrong
        return None


def cell_embedding_problem(entry: DatasetEntry, key: str) -> str | None:
    """Why the cell embedding ``key`` is not available in dataset ``entry`` (None when it is, or
    when the source cannot be read without loading it: a registry dataset)."""
    from vcbench.data.cell_embedding import TRAIN_PCA_KEY

    fix = (
        f"store the embedding in the file's obsm (docs/representations.md) or use "
        f"'{TRAIN_PCA_KEY}' (a PCA fitted on each split's training cells)"
    )
    if key == TRAIN_PCA_KEY:
        return None
    if entry.source == "demo":
        return f"the demo has no obsm key {key!r} (it has no cell embedding); {fix}"
    path = Path(entry.source)
    keys = _obsm_keys(path) if path.is_file() else None
    if keys is None or key in keys:
        return None
    return (
        f"{path.name} has no obsm key {key!r}{did_you_mean(key, keys)} (its obsm keys: {keys}); "
        + fix
    )


def _query_problems(here: tuple[int | str, ...], path: Path, query: str) -> list[Problem]:
    """The row filter evaluated on the file's obs (read alone, not the matrix)."""
    try:
        import h5py
        from anndata.io import read_elem

        with h5py.File(path, "r") as handle:
            obs = read_elem(handle["obs"])
    except Exception:  # another layout: the loader will say what is wrong
        return []
    from vcbench.data.obs_query import query_mask
    from vcbench.errors import VcbenchError

    try:
        query_mask(obs, query, path.name)
    except VcbenchError as exc:
        return [Problem((*here, "obs_query"), str(exc).rstrip("."))]
    return []


def _dataset_problems(index: int, entry: DatasetEntry) -> list[Problem]:
    here: tuple[int | str, ...] = ("datasets", index)
    problems: list[Problem] = []
    query = getattr(entry, "obs_query", None)
    if isinstance(query, str) and not query.strip():
        problems.append(Problem((*here, "obs_query"), "obs_query is empty; write a pandas query"))
        query = None
    key = entry.cell_embedding_key
    problem = None if key is None else cell_embedding_problem(entry, key)
    if problem is not None:
        problems.append(Problem((*here, "cell_embedding_key"), problem))
    if entry.source == "demo":
        return problems
    from vcbench.datasets.registry import REGISTRY

    if entry.source in REGISTRY:
        return problems
    path = Path(entry.source)
    if not path.is_file():
        hint = did_you_mean(entry.source, ["demo", *REGISTRY])
        problems.append(
            Problem(
                (*here, "source"),
                f"source {entry.source!r} is not 'demo', a registry dataset{hint} or an existing "
                "file (see `vcbench datasets list`)",
            )
        )
        return problems
    columns = _obs_columns(path)
    if columns is None:
        return problems
    if isinstance(query, str):
        problems += _query_problems(here, path, query)
    keys = {
        "perturbation_key": entry.perturbation_key,
        "context_key": entry.context_key,
        "dataset_key": entry.dataset_key,
        "dose_key": entry.dose_key,
    }
    for key, column in keys.items():
        if column is not None and column not in columns:
            problems.append(
                Problem(
                    (*here, key),
                    f"{path.name} has no obs column {column!r}{did_you_mean(column, columns)}; "
                    f"its columns: {columns}"
                    + ("; context_key: null means one context" if key == "context_key" else ""),
                )
            )
    return problems


def _model_embedding_problems(spec: BenchmarkSpec) -> list[Problem]:
    """A model's own ``cell_embedding_key`` param must be in every dataset it runs on."""
    from vcbench.data.cell_embedding import TRAIN_PCA_KEY
    from vcbench.models.cell_inputs import CELL_EMBEDDING_PARAM

    problems = []
    for index, model in enumerate(spec.models):
        key = model.params.get(CELL_EMBEDDING_PARAM)
        if not isinstance(key, str):
            continue
        for dataset in spec.datasets:
            if key == dataset.cell_embedding_key:
                continue
            problem = cell_embedding_problem(dataset, key)
            if key == TRAIN_PCA_KEY:
                problem = (
                    f"{TRAIN_PCA_KEY} is computed only for a dataset whose cell_embedding_key is "
                    f"{TRAIN_PCA_KEY}; set it on the dataset entry"
                )
            if problem is not None:
                where = ("models", index, "params", CELL_EMBEDDING_PARAM)
                problems.append(Problem(where, f"dataset {dataset.name!r}: {problem}"))
    return problems


def spec_problems(spec: BenchmarkSpec) -> list[Problem]:
    """Every problem of ``spec`` (empty when it can run), in the order of the file."""
    from vcbench.metrics.registry import metric_problems

    problems: list[Problem] = [Problem(("metrics",), m) for m in metric_problems(spec.metrics)]
    for index, dataset in enumerate(spec.datasets):
        problems += _dataset_problems(index, dataset)
    for index, scenario in enumerate(spec.scenarios):
        problems += _scenario_problems(index, scenario)
    for index, model in enumerate(spec.models):
        problems += _model_problems(index, model)
    problems += _model_embedding_problems(spec)
    order = {"output": 0, "metrics": 1, "datasets": 2, "scenarios": 3, "models": 4}
    return sorted(problems, key=lambda p: order.get(str(p.location[0]), 9))


def _lines(text: str) -> Any:
    import yaml

    try:
        return yaml.compose(text)
    except yaml.YAMLError:
        return None


def format_problems(
    problems: list[Problem], source: str = "<spec>", text: str | None = None
) -> str:
    """One message listing every problem, each with its key (and its line when ``text`` is the
    spec's YAML)."""
    from vcbench.runner.spec import _node_at

    root = _lines(text) if text is not None else None
    lines = []
    for problem in problems:
        node = _node_at(root, problem.location) if root is not None else None
        where = f"{source}, line {node.start_mark.line + 1}" if node is not None else source
        lines.append(f"  {where}: {problem.key}: {problem.message}")
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return f"The benchmark spec has {count} (nothing was run):\n" + "\n".join(lines)


def validate_spec(spec: BenchmarkSpec, source: str = "<spec>", text: str | None = None) -> None:
    """Raise one ``SpecError`` listing every problem of ``spec``; return quietly if there is none."""
    problems = spec_problems(spec)
    if problems:
        raise SpecError(format_problems(problems, source, text))
