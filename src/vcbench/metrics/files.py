"""Score a prediction file against a truth file (what ``vcbench evaluate`` runs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pandas as pd

from vcbench import defaults
from vcbench.data import contract as c
from vcbench.data.labels import check_labels_present, parse_labels
from vcbench.data.loader import load_dataset, read_h5ad_light
from vcbench.data.matrix_checks import check_plausible, value_chunks
from vcbench.errors import MetricError
from vcbench.files import check_writable_folder, write_table_atomic
from vcbench.metrics.aggregate import aggregate
from vcbench.metrics.dask_conditions import condition_map_for
from vcbench.metrics.distributions import Gram
from vcbench.metrics.evaluate import evaluate

if TYPE_CHECKING:
    import anndata as ad

    from vcbench.data.h5ad_file import H5adFile

Prediction = TypeVar("Prediction", "ad.AnnData", "H5adFile")


def standardise_prediction(
    prediction: Prediction,
    perturbation_key: str,
    context_key: str | None,
    control: str | Sequence[str],
    combination_delimiter: str | None = c.COMBINATION_DELIMITER,
) -> Prediction:
    """Add the standard obs columns to a prediction (in place; X is not read or changed).

    Labels are parsed as ``load_dataset`` parses the truth's (controls become ``control``,
    combination parts are sorted), so both name the same conditions. No count detection: a
    prediction holds log-normalised values.
    """
    obs = prediction.obs
    for role, key in (("perturbation", perturbation_key), ("context", context_key)):
        if key is not None and key not in obs:
            raise MetricError(
                f"The prediction has no obs column {key!r} (the {role} key); its obs columns: "
                f"{list(obs.columns)}. Pass {role}_key= naming the prediction's column."
            )
    controls = [control] if isinstance(control, str) else list(control)
    parsed = parse_labels(obs[perturbation_key], controls, combination_delimiter, perturbation_key)
    obs[c.PERTURBATION] = pd.Categorical(parsed["condition"].to_numpy())
    obs[c.IS_CONTROL] = (parsed["n_targets"] == 0).to_numpy()
    if context_key is None:
        obs[c.CONTEXT] = pd.Categorical(["all"] * len(obs))
    else:
        check_labels_present(obs[context_key], context_key)
        obs[c.CONTEXT] = pd.Categorical(obs[context_key].astype(str).str.strip().to_numpy())
    return prediction


@dataclass(frozen=True)
class EvaluationFiles:
    """The tables ``evaluate_files`` wrote and where."""

    scores: pd.DataFrame
    summary: pd.DataFrame
    paths: tuple[Path, ...]


def evaluate_files(
    prediction_path: str | Path,
    truth_path: str | Path,
    *,
    perturbation_key: str = "condition",
    context_key: str | None = None,
    control: str | Sequence[str] = c.CONTROL,
    metrics: str | list[str] = "full",
    out: str | Path | None = None,
    reference_path: str | Path | None = None,
    backed: bool = False,
    max_cells: int | None = 500,
    seed: int = 0,
    n_boot: int = 1000,
    executor: str = "serial",
    scheduler: str | None = None,
    pds_normalisation: str = "p_minus_1",
    gram: Gram = defaults.GRAM,
) -> EvaluationFiles:
    """Load both files, score them with ``evaluate`` and write the tables under ``out``.

    The truth (real test cells and the real controls of their contexts) is read with
    ``load_dataset(..., backed=True)``: its X stays in the file, is checked in chunks and read
    condition by condition, so memory does not grow with its number of cells (a truth of raw counts
    is read into memory to be normalised). The prediction's obs columns are mapped with
    ``standardise_prediction`` and its control cells are ignored; ``backed=True`` opens the
    prediction in backed mode too. The scores are the same bits either way. Writes ``scores.parquet``/``.csv`` (one row per context × perturbation ×
    metric) and ``summary.parquet``/``.csv`` (per context and metric: mean, sd, n, n_nan, bootstrap
    95 % interval). ``executor="dask"`` scores the conditions on the Dask cluster at ``scheduler``
    (default: a local cluster), with the same values. ``pds_normalisation="p"`` normalises ``pds``
    by P as cell-eval does (``vcbench.metrics.cell_eval.pds_over_p``; default ``p_minus_1``).
    ``gram``: the precision of the gene-space distances' products (``evaluate``'s; float32 by
    default, ``"float64"`` for the exact products).
    """
    from vcbench.metrics.cell_eval import pds_over_p

    if pds_normalisation not in ("p_minus_1", "p"):  # before the scoring, not after it
        raise MetricError(
            f"pds_normalisation={pds_normalisation!r} is not 'p_minus_1' (vcbench's) or 'p' "
            "(cell-eval's)."
        )
    if out is not None:  # fail before the scoring, not after it
        check_writable_folder(out, "--out folder")
    # backed: X is read condition by condition, so memory does not grow with the truth's cells
    truth = load_dataset(
        truth_path, perturbation_key, context_key, control, backed=True, harmonize_targets=False
    )
    # with h5py alone where the layout allows: no anndata import (vcbench.data.h5ad_file)
    prediction = read_h5ad_light(prediction_path, backed=backed, uns_keys=[c.PREDICTION_KEY])
    for chunk in value_chunks(prediction.X):  # damaged bytes: say so rather than "NaN values"
        check_plausible(chunk)
    standardise_prediction(prediction, perturbation_key, context_key, control)
    reference = None
    if reference_path is not None:
        reference = load_dataset(
            reference_path,
            perturbation_key,
            context_key,
            control,
            backed=True,
            harmonize_targets=False,
        )
    with condition_map_for(executor, scheduler) as condition_map:
        scores = evaluate(
            prediction,
            truth,
            metrics=metrics,
            reference=reference,
            max_cells=max_cells,
            seed=seed,
            condition_map=condition_map,
            gram=gram,
        )
    scores = pds_over_p(scores, pds_normalisation)  # type: ignore[arg-type]
    summary = aggregate(scores, n_boot=n_boot, seed=seed)
    paths: list[Path] = []
    if out is not None:
        for name, table in (("scores", scores), ("summary", summary)):
            for suffix in (".parquet", ".csv"):
                paths.append(write_table_atomic(table, Path(out) / f"{name}{suffix}"))
    return EvaluationFiles(scores=scores, summary=summary, paths=tuple(paths))
