"""Score predictions against the truth: one tidy row per condition and metric, a condition being
``contract.condition_columns`` of the truth: (context, perturbation), with the dose where the truth
has ``vcb_dose`` (then the rows carry a ``dose`` column).

Memory: the expression matrices are read one condition at a time (``AnnData.X[rows]``, which also
works on AnnData opened with ``backed="r"``), so the peak is one condition's cells plus the context's
real controls plus P × G means; the whole matrix is never densified.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.linalg import eigh

from vcbench import defaults
from vcbench.data import contract as c
from vcbench.data.rows import RowReader
from vcbench.errors import MetricError
from vcbench.metrics.cells import (
    CELL_METRICS,
    DE_TEST_METRICS,
    PCA_DISTRIBUTION_METRICS,
    cell_metric_values,
)
from vcbench.metrics.dask_conditions import ConditionMap
from vcbench.metrics.definitions import TOP_K, ContextArrays
from vcbench.metrics.distributions import Gram
from vcbench.metrics.input_checks import check_inputs, check_scale
from vcbench.metrics.notes import MIN_TRUTH_CELLS, annotate
from vcbench.metrics.registry import resolve_metrics
from vcbench.metrics.truth_cache import TruthCache, cached, cached_all, truth_identity
from vcbench.metrics.wilcoxon import ControlRanks
from vcbench.threads import condition_threads, deterministic_blas, single_threaded_blas

if TYPE_CHECKING:
    import anndata as ad

KEYS = [c.CONTEXT, c.PERTURBATION]  # the prediction's required columns; doses: condition_columns
N_PCS = 50
WAITING = 1  # conditions read and waiting for a pool thread, beside those being scored
PASS1_POOL_BYTES = 1 << 25  # pass 1 runs on the pool where one G × G product is ≤ 32 MB (G ≤ 2048)
Level = Literal["auto", "cells", "mean"]
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class _Matrix:
    """Row access to an AnnData's X (in memory or backed), columns in the truth's gene order."""

    adata: ad.AnnData
    columns: np.ndarray | None  # indexer into adata.var_names, or None when already in order
    reader: RowReader = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "reader", RowReader(self.adata))

    def stored_rows(self, index: np.ndarray) -> np.ndarray | sparse.csr_matrix:
        """The rows ``index`` (sorted here), columns in the truth's order, as stored (a sparse
        X stays sparse, in its dtype): what a condition in flight holds until it is scored."""
        index = np.sort(np.asarray(index, dtype=np.int64))
        block = self.reader.rows(index)
        return block if self.columns is None else block[:, self.columns]

    def rows(self, index: np.ndarray) -> np.ndarray:
        """The rows ``index`` (sorted here) as a dense float64 array."""
        return _dense(self.stored_rows(index))


def _dense(block: np.ndarray | sparse.csr_matrix) -> np.ndarray:
    """``block`` as a dense float64 array (a sparse block is made dense in float64 directly, not
    through a dense copy in its own dtype: the same values, one full-size array fewer)."""
    if sparse.issparse(block):
        return block.astype(np.float64).toarray()
    return np.asarray(block).astype(np.float64, copy=False)


def _gene_columns(
    genes: pd.Index, truth_genes: pd.Index, what: str = "prediction"
) -> np.ndarray | None:
    """Indexer putting ``genes`` in the truth's order (None when already so); error on other sets."""
    only_truth = truth_genes.difference(genes)
    only_other = genes.difference(truth_genes)
    if len(only_truth) or len(only_other):
        raise MetricError(
            f"{what.capitalize()} and truth have different genes: {len(only_truth)} only in the truth "
            f"(e.g. {list(only_truth[:5])}), {len(only_other)} only in the {what} "
            f"(e.g. {list(only_other[:5])}). Give the {what} exactly the truth's genes."
        )
    if genes.equals(truth_genes):
        return None
    return genes.get_indexer(truth_genes)


def _groups(obs: pd.DataFrame, keys: list[str]) -> dict[tuple[str, ...], np.ndarray]:
    frame = obs[keys].astype(str)
    return {
        tuple(k) if isinstance(k, tuple) else (k,): v
        for k, v in frame.groupby(keys, sort=True).indices.items()
    }


def _dosed(obs: pd.DataFrame, keys: list[str], truth_obs: pd.DataFrame) -> pd.DataFrame:
    """``obs`` with the truth's dose where the prediction names none but the truth has a single
    dose per (context, perturbation); an error where the dose is ambiguous."""
    if c.DOSE not in keys or c.DOSE in obs:
        return obs
    doses = truth_obs[keys].astype(str).drop_duplicates()
    several = doses[doses.duplicated(KEYS, keep=False)]
    if len(several):
        first = several.iloc[0]
        raise MetricError(
            f"The truth has several doses of condition ({first[c.CONTEXT]!r}, "
            f"{first[c.PERTURBATION]!r}) but the prediction names no dose; a dose is part of the "
            f"condition. Give each predicted cell its dose in obs[{c.DOSE!r}]."
        )
    dose = doses.set_index(KEYS)[c.DOSE]
    labels = pd.MultiIndex.from_frame(obs[KEYS].astype(str))
    return obs.assign(**{c.DOSE: dose.reindex(labels).fillna("").to_numpy()})


def _prediction_rows(
    prediction: ad.AnnData, keys: list[str], truth_obs: pd.DataFrame
) -> dict[tuple[str, ...], np.ndarray]:
    """Row indices of each predicted condition (``keys``); the prediction's controls are ignored."""
    missing = [k for k in KEYS if k not in prediction.obs]
    if missing:
        raise MetricError(
            f"The prediction lacks obs column(s) {missing}; a prediction names each cell's "
            f"context and perturbation in obs[{c.CONTEXT!r}] and obs[{c.PERTURBATION!r}]."
        )
    groups = _groups(_dosed(prediction.obs, keys, truth_obs), keys)
    controls = {key for key in groups if key[1] == c.CONTROL}
    if c.IS_CONTROL in prediction.obs:
        is_control = prediction.obs[c.IS_CONTROL].to_numpy(dtype=bool)
        controls |= {key for key, rows in groups.items() if is_control[rows].all()}
    return {key: rows for key, rows in groups.items() if key not in controls}


def _level(prediction: ad.AnnData, rows: dict[tuple[str, ...], np.ndarray], level: Level) -> str:
    if level != "auto":
        return level
    marked = prediction.uns.get(c.PREDICTION_KEY, {}).get("level")
    if marked in ("cells", "mean"):
        return str(marked)
    return "mean" if all(len(r) == 1 for r in rows.values()) else "cells"


def _expected_conditions(
    truth_rows: dict[tuple[str, ...], np.ndarray], conditions: pd.DataFrame | None
) -> list[tuple[str, ...]]:
    available = sorted(truth_rows)
    if conditions is None:
        return available
    given = c.condition_columns(conditions.columns)
    if available and len(given) > len(available[0]):  # doses in the conditions, not in the truth
        given = given[: len(available[0])]
    expected = sorted(set(map(tuple, conditions[given].astype(str).to_numpy())))
    if available and len(given) < len(available[0]):  # conditions without doses: all the doses
        expected = [key for key in available if key[: len(given)] in set(expected)]
    missing = sorted(set(expected) - set(available))
    if missing:
        raise MetricError(
            f"The truth has no cells of test condition(s) {missing[:10]}; give the real test cells."
        )
    return expected


def _check_conditions(predicted: set[tuple[str, ...]], expected: list[tuple[str, ...]]) -> None:
    missing = sorted(set(expected) - predicted)
    extra = sorted(predicted - set(expected))
    if missing or extra:
        raise MetricError(
            f"Prediction conditions do not match the test conditions: missing {missing[:10]}"
            f"{' …' if len(missing) > 10 else ''} ({len(missing)}), extra {extra[:10]} ({len(extra)}). "
            "Predict every test condition (context, perturbation[, dose]) and nothing else."
        )


def _target_mask(perturbations: list[str], genes: pd.Index) -> np.ndarray:
    mask = np.zeros((len(perturbations), len(genes)), dtype=bool)
    for row, label in enumerate(perturbations):
        positions = genes.get_indexer(c.split_combination(str(label)))
        mask[row, positions[positions >= 0]] = True
    return mask


def _pca_components(total: np.ndarray, cross: np.ndarray, n: int, n_pcs: int) -> np.ndarray:
    """Top ``n_pcs`` eigenvectors (G × n_pcs) of the covariance from Σx and Σxxᵀ over ``n`` cells.

    Sign convention: each component's largest-magnitude loading is positive.
    """
    mean = total / n
    covariance = (cross - n * np.outer(mean, mean)) / max(n - 1, 1)
    n_pcs = max(1, min(n_pcs, covariance.shape[0], n - 1))
    size = covariance.shape[0]
    _, vectors = eigh(covariance, subset_by_index=(size - n_pcs, size - 1))
    components = vectors[:, ::-1]
    signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(n_pcs)])
    return components * np.where(signs == 0, 1.0, signs)


def _digest(labels: list[str]) -> str:
    """A short digest of a list of labels (part of a cache key)."""
    return hashlib.blake2b("\x1f".join(labels).encode(), digest_size=12).hexdigest()


def _context_truth(
    cache: TruthCache | None,
    matrix: _Matrix,
    control_rows: np.ndarray,
    condition_rows: list[np.ndarray],
    key: tuple[str, ...],
    n_pcs: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """A context's real means (P × G), control mean and PCA components (with ``n_pcs``)."""

    def one(rows: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, int] | None]:
        cells = matrix.rows(rows)
        sums = (cells.sum(axis=0), cells.T @ cells, cells.shape[0]) if n_pcs is not None else None
        return cells.mean(axis=0), sums

    def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        controls = matrix.rows(control_rows)
        genes = controls.shape[1]
        observed = np.empty((len(condition_rows), genes))
        total, cross, n = controls.sum(axis=0), None, controls.shape[0]
        if n_pcs is not None:
            cross = controls.T @ controls
        # the conditions' products on the pool, added here in order: the same bits as a loop;
        # serial where a G × G product in flight would be large
        small = n_pcs is None or genes * genes * 8 <= PASS1_POOL_BYTES
        # at most WAITING finished products (8 MB each at G = 1,000) wait beside those computed
        mapped = _map_conditions(one, condition_rows) if small else map(one, condition_rows)
        for i, (mean, sums) in enumerate(mapped):
            observed[i] = mean
            if sums is not None:
                total += sums[0]
                cross += sums[1]
                n += sums[2]
        components = _pca_components(total, cross, n, n_pcs) if n_pcs is not None else None
        return observed, controls.mean(axis=0), components

    parts = [("observed", *key), ("control_mean", *key)]
    if n_pcs is None:
        return (*cached_all(cache, parts, lambda: compute()[:2]), None)
    return cached_all(cache, [*parts, ("components", *key, n_pcs)], compute)


def _condition_memo(
    cache: TruthCache | None, key: tuple[object, ...]
) -> Callable[[str, Callable[[], T]], T] | None:
    """The memo of one condition's truth-side values (None without a cache)."""
    if cache is None:
        return None
    return lambda name, compute: cache.get((*key, name), compute)


def _map_conditions(
    function: Callable[[T], R], items: Iterable[T], waiting: int = WAITING
) -> Iterator[R]:
    """``map(function, items)`` in order, on ``condition_threads()`` threads, single-threaded BLAS.

    The conditions are independent, and numpy releases the GIL in the heavy steps (matrix products,
    sorts, searches, the Sinkhorn log-sum-exps), so running them side by side uses every allowed
    core even where a step is single-threaded. At most ``workers + waiting`` conditions are in
    flight, so the memory stays that of a few conditions' cells.
    Results are identical to a serial run.
    """
    workers = condition_threads()
    if workers == 1:
        yield from map(function, items)
        return
    with single_threaded_blas(), ThreadPoolExecutor(workers) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:  # items are read here, in the calling thread
            pending.append(pool.submit(function, item))
            if len(pending) >= workers + waiting:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@deterministic_blas  # the same bits with any number of cores, jobs or executor
def evaluate(
    prediction: ad.AnnData,
    truth: ad.AnnData,
    *,
    metrics: str | list[str] = "fast",
    conditions: pd.DataFrame | None = None,
    reference: ad.AnnData | None = None,
    level: Level = "auto",
    k: int = TOP_K,
    max_cells: int | None = 500,
    n_pcs: int = N_PCS,
    seed: int = 0,
    min_truth_cells: int = MIN_TRUTH_CELLS,
    truth_cache: TruthCache | None = None,
    condition_map: ConditionMap | None = None,
    gram: Gram = defaults.GRAM,
) -> pd.DataFrame:
    """Score a prediction against the truth (both in the standard form); definitions: docs/metrics.md.

    Args:
        prediction: predicted cells (or one mean row per condition) with ``vcb_context`` and
            ``vcb_perturbation`` in ``obs``. Its own control cells, if any, are ignored.
        truth: the real test cells plus the real control cells of their contexts. The effects of
            both prediction and truth are taken against these real controls.
        metrics: a profile name (``paper``, ``fast``, ``full``) or a list of metric names.
        conditions: the test conditions (columns ``vcb_context``, ``vcb_perturbation``, and
            ``vcb_dose`` for doses); default: every perturbed condition of the truth. Where the
            truth has doses, a condition is (context, perturbation, dose); a prediction without
            ``vcb_dose`` is accepted only where each (context, perturbation) has one dose.
        reference: the training cells; unused by the metrics since ``pdcorr_systema`` takes its
            centroid from the test context (docs/validity.md), accepted for compatibility.
        level: ``cells`` or ``mean``; ``auto`` reads ``uns["vcbench_prediction"]["level"]``, else
            takes one row per condition as means.
        k: size of the top-k DE gene sets.
        max_cells: distribution metrics subsample each sample to at most this many cells.
        n_pcs: number of principal components of the PC-space metrics.
        seed: seed of the subsampling.
        min_truth_cells: cell-level metrics of a condition with fewer real cells are NaN (noted).
        truth_cache: keeps the truth-side statistics for the next call with the same truth (e.g.
            the next model of a split); the scores are bit-identical with or without it.
        condition_map: how the conditions' cell-level metrics are mapped, ``map``-like and in
            order; default: a pool of ``condition_threads()`` threads in this process. For a Dask
            cluster: ``metrics.dask_conditions.dask_condition_map``. The same values either way.

        gram: the precision of the matrix products behind the gene-space distances
            (``energy_distance``, ``sinkhorn``, ``mmd_rbf``): ``float32`` (default,
            ``defaults.GRAM``) on centred samples, within
            ``distributions.GRAM_FLOAT32_TOLERANCE`` of ``float64`` (docs/performance.md).

    Returns:
        A tidy frame with columns context, perturbation (dose, where the truth has doses),
        metric, value, note (why a value is missing, or how it was computed, e.g. the subsampling).
    """
    chosen = resolve_metrics(metrics)
    check_inputs(prediction, truth)
    columns = _gene_columns(prediction.var_names, truth.var_names)
    keys = c.condition_columns(truth.obs.columns)
    predicted_rows = _prediction_rows(prediction, keys, truth.obs)
    check_scale(prediction, truth, np.concatenate([[], *predicted_rows.values()]), seed)
    prediction_level = _level(prediction, predicted_rows, level)
    is_control = truth.obs[c.IS_CONTROL].to_numpy(dtype=bool)
    truth_rows = {
        key: rows for key, rows in _groups(truth.obs, keys).items() if not is_control[rows].all()
    }
    control_rows = {
        key[0]: rows for key, rows in _groups(truth.obs.iloc[is_control], [c.CONTEXT]).items()
    }
    control_rows = {key: np.flatnonzero(is_control)[rows] for key, rows in control_rows.items()}
    expected = _expected_conditions(truth_rows, conditions)
    _check_conditions(set(predicted_rows), expected)
    contexts = sorted({key[0] for key in expected})
    without_controls = [context for context in contexts if context not in control_rows]
    if without_controls:
        raise MetricError(
            f"Context {without_controls[0]!r} has no real control cells in the truth; the effect "
            "metrics need them. Include the context's real control cells in the truth."
        )
    names = {m.name for m in chosen}
    cell_wanted = names & set(CELL_METRICS) if prediction_level == "cells" else set()
    needs_pca = "pca_delta_spearman" in names or bool(cell_wanted & set(PCA_DISTRIBUTION_METRICS))
    if truth_cache is not None:
        truth_cache.bind(truth_identity(truth))
    truth_matrix = _Matrix(truth, None)
    prediction_matrix = _Matrix(prediction, columns)

    blocks = []
    non_finite = 0
    prepared = []
    for context in contexts:  # pass 1: means, PCA, finiteness of the prediction
        in_context = [key for key in expected if key[0] == context]
        perturbations = [key[1] for key in in_context]
        observed, control_mean, components = _context_truth(
            truth_cache,
            truth_matrix,
            control_rows[context],
            [truth_rows[key] for key in in_context],
            (context, _digest(["\x1e".join(key[1:]) for key in in_context])),
            n_pcs if needs_pca else None,
        )
        predicted = np.empty_like(observed)
        for i, key in enumerate(in_context):
            guess = prediction_matrix.rows(predicted_rows[key])
            finite = np.isfinite(guess)
            if not finite.all():
                non_finite += int((~finite).sum())
                continue
            predicted[i] = guess.mean(axis=0)
        arrays = ContextArrays(
            predicted=predicted,
            observed=observed,
            control=control_mean,
            target_mask=_target_mask(perturbations, truth.var_names),
            k=k,
            components=components,
        )
        prepared.append((context, in_context, arrays))
    if non_finite:
        raise MetricError(
            f"The prediction holds {non_finite} NaN or infinite values. "
            "Fix the model's output; vcbench does not impute predictions."
        )

    for context, in_context, arrays in prepared:  # pass 2: cell-level metrics
        if cell_wanted:
            ranks = None
            if cell_wanted & set(DE_TEST_METRICS):
                ranks = cached(
                    truth_cache,
                    ("control_ranks", context),
                    lambda context=context: ControlRanks(truth_matrix.rows(control_rows[context])),
                )
            values: dict[str, list[float]] = {name: [] for name in cell_wanted}
            condition_rows = (  # stored form (sparse, float32) until scored: less in flight
                (
                    prediction_matrix.stored_rows(predicted_rows[key]),
                    truth_matrix.stored_rows(truth_rows[key]),
                    None
                    if condition_map is not None  # the cache lives in this process
                    else _condition_memo(truth_cache, (*key, max_cells, seed, n_pcs, k)),
                )
                for key in in_context
            )
            for found in (condition_map or _map_conditions)(
                lambda rows, ranks=ranks, arrays=arrays: cell_metric_values(
                    _dense(rows[0]),
                    _dense(rows[1]),
                    cell_wanted,
                    controls=ranks,
                    components=arrays.components,
                    max_cells=max_cells,
                    seed=seed,
                    truth_memo=rows[2],
                    gram=gram,
                ),
                condition_rows,
            ):
                for name in cell_wanted:
                    values[name].append(found[name])
            arrays = replace(arrays, cell_values={n: np.array(v) for n, v in values.items()})
        n_truth = np.array([len(truth_rows[key]) for key in in_context])
        n_predicted = np.array([len(predicted_rows[key]) for key in in_context])
        for metric in chosen:
            value, note = annotate(
                metric,
                metric.function(arrays),
                arrays,
                level=prediction_level,
                n_truth=n_truth,
                n_predicted=n_predicted,
                min_truth_cells=min_truth_cells,
                max_cells=max_cells,
                seed=seed,
            )
            blocks.append(
                pd.DataFrame(
                    {
                        "context": context,
                        "perturbation": [key[1] for key in in_context],
                        **({"dose": [key[2] for key in in_context]} if c.DOSE in keys else {}),
                        "metric": metric.name,
                        "value": value,
                        "note": note,
                    }
                )
            )
    return pd.concat(blocks, ignore_index=True)
