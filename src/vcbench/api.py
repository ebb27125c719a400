"""The Python API for AnnData users: ``vcbench.evaluate``, ``vcbench.run`` and ``vcbench.distance``.

A thin layer over the metrics, the runner and the report (the layer of the command line): it
takes what a scverse user holds (AnnData objects with their own obs columns, or ``.h5ad`` paths; a
spec as a dict or a file) and returns pandas tables. Errors name the Python parameter to change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anndata as ad
import numpy as np
import pandas as pd

from vcbench import defaults
from vcbench.data import contract as c
from vcbench.errors import MetricError, SpecError
from vcbench.suggest import did_you_mean

if TYPE_CHECKING:
    from vcbench.metrics.distributions import Gram

DISTANCE_METRICS = ("energy_distance", "sinkhorn", "mmd_rbf")


def _standard(adata: ad.AnnData) -> bool:
    return {c.PERTURBATION, c.CONTEXT, c.IS_CONTROL} <= set(adata.obs.columns)


def _as_truth(
    truth: ad.AnnData | str | Path,
    perturbation_key: str,
    context_key: str | None,
    control: str | Sequence[str],
) -> ad.AnnData:
    from vcbench.data.loader import load_dataset

    if isinstance(truth, ad.AnnData) and _standard(truth):
        return truth
    return load_dataset(truth, perturbation_key, context_key, control)


def _as_prediction(
    prediction: ad.AnnData | str | Path,
    perturbation_key: str,
    context_key: str | None,
    control: str | Sequence[str],
) -> ad.AnnData:
    from vcbench.data.loader import read_h5ad
    from vcbench.metrics.files import standardise_prediction

    if not isinstance(prediction, ad.AnnData):
        prediction = read_h5ad(prediction)
    elif {c.PERTURBATION, c.CONTEXT} <= set(prediction.obs.columns):
        return prediction
    else:  # a view with its own obs, so the caller's object is not changed (X is shared)
        prediction = ad.AnnData(
            X=prediction.X,
            obs=prediction.obs.copy(),
            var=prediction.var,
            uns=dict(prediction.uns),
            layers=dict(prediction.layers),
        )
    return standardise_prediction(prediction, perturbation_key, context_key, control)


def evaluate(
    prediction: ad.AnnData | str | Path,
    truth: ad.AnnData | str | Path,
    *,
    perturbation_key: str = defaults.PERTURBATION_KEY,
    context_key: str | None = defaults.CONTEXT_KEY,
    control: str | Sequence[str] = defaults.CONTROL,
    metrics: str | Sequence[str] = defaults.METRICS,
    reference: ad.AnnData | str | Path | None = None,
    pds_normalisation: str = "p_minus_1",
    **options: Any,
) -> pd.DataFrame:
    """Score predicted cells against real cells: one row per (context, perturbation, metric).

    Args:
        prediction: predicted cells (or one mean row per condition), an AnnData or an ``.h5ad``
            path, with the same obs columns as ``truth``; its own control cells are ignored.
        truth: the real test cells plus the real control cells of their contexts (an AnnData with
            its own obs columns, one already in vcbench's standard form, or a path).
        perturbation_key, context_key, control: the obs columns and control label(s) of both
            (``context_key=None``: one context). Not used for data in the standard form.
        metrics: a profile (``paper``, ``fast``, ``full``), a metric name or a list of names.
        reference: the training cells, for ``pdcorr_systema``.
        pds_normalisation: ``p_minus_1`` (vcbench's ``pds``: the own condition left out) or ``p``
            (cell-eval's ``discrimination_score_l1`` normalisation; ``vcbench.metrics.cell_eval``).
        **options: passed to ``vcbench.metrics.evaluate`` (``k``, ``max_cells``, ``n_pcs``,
            ``seed``, ``level``, ``conditions``).
    """
    from vcbench.metrics.cell_eval import pds_over_p
    from vcbench.metrics.evaluate import evaluate as score

    if pds_normalisation not in ("p_minus_1", "p"):
        raise MetricError(
            f"pds_normalisation={pds_normalisation!r} is not 'p_minus_1' (vcbench's) or 'p' "
            "(cell-eval's)."
        )
    truth_data = _as_truth(truth, perturbation_key, context_key, control)
    predicted = _as_prediction(prediction, perturbation_key, context_key, control)
    reference_data = (
        None if reference is None else _as_truth(reference, perturbation_key, context_key, control)
    )
    chosen = metrics if isinstance(metrics, str) else list(metrics)
    scores = score(predicted, truth_data, metrics=chosen, reference=reference_data, **options)
    return pds_over_p(scores, pds_normalisation)  # type: ignore[arg-type]


def run(
    spec: Mapping[str, Any] | str | Path | Any,
    *,
    force: bool = False,
    **overrides: Any,
) -> pd.DataFrame:
    """Run a benchmark spec and return its results table (tidy: one row per dataset × scenario ×
    seed × model × condition × metric; also written under the spec's ``output``, beside
    ``leaderboard.csv`` and ``findings.csv`` as ``vcbench run`` writes them; ``vcbench report``
    or ``vcbench.report.write_report`` adds the pages).

    Args:
        spec: a dict of the spec's keys, a path to a YAML spec, or a ``BenchmarkSpec``.
        force: re-run tasks that already finished.
        **overrides: ``models``, ``scenarios``, ``datasets``, ``seeds`` (lists that narrow the spec,
            as the command line's ``--models`` etc.), ``set`` (a dict of dotted keys to values) and
            any top-level key (``output``, ``metrics``, ``executor``, ``jobs``, ...).
    """
    from pydantic import ValidationError

    from vcbench.runner import BenchmarkSpec, load_spec, run_benchmark
    from vcbench.runner.overrides import apply_overrides

    source = "<dict>"
    if isinstance(spec, BenchmarkSpec):
        chosen = spec
    elif isinstance(spec, Mapping):
        try:
            chosen = BenchmarkSpec.model_validate(dict(spec))
        except ValidationError as exc:
            problems = [f"  {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            raise SpecError("The benchmark spec is invalid:\n" + "\n".join(problems)) from None
    elif isinstance(spec, str | Path):
        chosen, source = load_spec(spec), str(spec)
    else:
        raise SpecError(
            f"spec= is a {type(spec).__name__}; pass a dict, a path to a YAML file or a "
            "BenchmarkSpec."
        )
    narrowing = {
        k: overrides.pop(k) for k in ("models", "scenarios", "datasets", "seeds") if k in overrides
    }
    chosen, record = apply_overrides(
        chosen, **narrowing, settings=overrides.pop("set", None), options=overrides
    )
    result = run_benchmark(chosen, force=force, metadata={"source": source, "overrides": record})
    from vcbench.report.render import write_tables

    write_tables(result.out)
    return result.results


def _group_matrix(adata: ad.AnnData, obsm_key: str | None, layer: str | None) -> np.ndarray | Any:
    if obsm_key is not None:
        if obsm_key not in adata.obsm:
            raise MetricError(
                f"obsm_key={obsm_key!r} is not in adata.obsm{did_you_mean(obsm_key, adata.obsm)}; "
                f"obsm keys: {list(adata.obsm)}."
            )
        return adata.obsm[obsm_key]
    if layer is not None:
        if layer not in adata.layers:
            raise MetricError(
                f"layer={layer!r} is not in adata.layers{did_you_mean(layer, adata.layers)}; "
                f"layers: {list(adata.layers)}."
            )
        return adata.layers[layer]
    return adata.X


def _dense(matrix: Any, rows: np.ndarray) -> np.ndarray:
    block = matrix[rows]
    block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
    return block.astype(np.float64, copy=False)


def distance(
    adata: ad.AnnData,
    groupby: str,
    metric: str = "energy_distance",
    *,
    contrast: str | None = None,
    groups: Sequence[str] | None = None,
    obsm_key: str | None = None,
    layer: str | None = None,
    max_cells: int | None = 500,
    seed: int = 0,
    gram: Gram = defaults.GRAM,
) -> pd.DataFrame | pd.Series:
    """A distribution distance between the cells of the groups of ``adata.obs[groupby]``.

    The metrics are vcbench's distribution metrics, as defined for scoring (docs/metrics.md):
    ``energy_distance``, ``sinkhorn`` (Sinkhorn divergence, ε = 0.05²) and ``mmd_rbf``. Each group
    is subsampled to at most ``max_cells`` cells (seeded); a group with fewer than 2 cells gives NaN.

    Args:
        adata: any AnnData (not modified).
        groupby: the obs column whose groups are compared.
        metric: one of ``energy_distance``, ``sinkhorn``, ``mmd_rbf``.
        contrast: with a group name, the distance of every group to it (a Series, like pertpy's
            ``onesided_distances``); None: all pairs (a square DataFrame, like pertpy's
            ``pairwise``).
        groups: only these groups (default: all, in order of appearance when unordered).
        obsm_key: measure in this embedding (e.g. ``X_pca``) instead of the expression.
        layer: measure this layer instead of ``X``.
        max_cells: subsample each group to at most this many cells (None: all cells).
        seed: seed of the subsample.
        gram: the precision of the products behind the expression-space distances
            (``"float32"``, default, within ``GRAM_FLOAT32_TOLERANCE``; or ``"float64"``), as in
            ``evaluate``.
    """
    from vcbench.metrics.cells import cell_metric_values

    if metric not in DISTANCE_METRICS:
        raise MetricError(
            f"metric={metric!r} is not a distribution metric{did_you_mean(metric, DISTANCE_METRICS)}; "
            f"choose one of {list(DISTANCE_METRICS)}."
        )
    if groupby not in adata.obs:
        raise MetricError(
            f"groupby={groupby!r} is not an obs column{did_you_mean(groupby, adata.obs.columns)}; "
            f"obs columns: {list(adata.obs.columns)}."
        )
    labels = adata.obs[groupby].astype(str).to_numpy()
    present = list(pd.unique(labels))
    chosen = list(groups) if groups is not None else present
    for name in [*chosen, *([contrast] if contrast is not None else [])]:
        if name not in present:
            raise MetricError(
                f"group {name!r} is not in obs[{groupby!r}]{did_you_mean(name, present)}."
            )
    matrix = _group_matrix(adata, obsm_key, layer)
    cells = {g: _dense(matrix, np.flatnonzero(labels == g)) for g in {*chosen, contrast} - {None}}

    def between(a: str, b: str) -> float:
        if a == b:  # one sample against itself: 0 by definition (the estimators are not exactly 0)
            return 0.0
        values = cell_metric_values(
            cells[a], cells[b], {metric}, max_cells=max_cells, seed=seed, gram=gram
        )
        return float(values[metric])

    if contrast is not None:
        return pd.Series(
            [between(g, contrast) for g in chosen],
            index=pd.Index(chosen, name=groupby),
            name=metric,
        )
    table = pd.DataFrame(0.0, index=pd.Index(chosen, name=groupby), columns=pd.Index(chosen))
    for i, a in enumerate(chosen):
        for b in chosen[i + 1 :]:
            table.loc[a, b] = table.loc[b, a] = between(a, b)
    return table
