"""Metric definitions (docs/metrics.md), computed for all test conditions of one context at once.

Notation as in docs/metrics.md: ``x_c`` real mean of condition c, ``y_c`` predicted mean, ``x_0`` mean of
the context's real control cells, ``d_c = x_c − x_0``, ``e_c = y_c − x_0``, ``P`` conditions.

A vector counts as constant (so a correlation with it is NaN) when its root-mean-square deviation from
its own mean is at most ``CONSTANT_RTOL · (1 + rms(x_0))``: float32 storage of a prediction leaves
rounding noise of that order in ``y_c − x_0``, and a correlation with rounding noise is meaningless
(the ``no_change`` baseline would otherwise get a random PDCorr instead of NaN).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

CONSTANT_RTOL = 1e-6
TOP_K = 50
TOP_K_DE = 20
LFC_PSEUDOCOUNT = 0.1
RANK_TIE_ATOL = 1e-10


@dataclass(frozen=True)
class ContextArrays:
    """The means of one context's test conditions (rows aligned) and its control mean."""

    predicted: np.ndarray  # P × G, y_c
    observed: np.ndarray  # P × G, x_c
    control: np.ndarray  # G, x_0
    target_mask: np.ndarray  # P × G, True at the measured target genes of each condition
    k: int = TOP_K  # size of the top-k DE gene sets
    components: np.ndarray | None = None  # G × n_pcs, PCA of the context's real test cells
    cell_values: Mapping[str, np.ndarray] = field(
        default_factory=dict
    )  # cell-level metrics, P each

    @property
    def n_conditions(self) -> int:
        """P, the number of test conditions of the context."""
        return self.predicted.shape[0]

    @cached_property
    def constant_tolerance(self) -> float:
        """Deviation (rms) at or below which a vector counts as constant."""
        return CONSTANT_RTOL * (1.0 + float(np.sqrt(np.mean(self.control**2))))

    @cached_property
    def predicted_delta(self) -> np.ndarray:
        """e_c = y_c − x_0."""
        return self.predicted - self.control

    @cached_property
    def observed_delta(self) -> np.ndarray:
        """d_c = x_c − x_0."""
        return self.observed - self.control

    @cached_property
    def predicted_lfc(self) -> np.ndarray:
        """lfc(y_c) = log2(y_c + 0.1) − log2(x_0 + 0.1) (NaN where y_c < −0.1)."""
        return _lfc(self.predicted, self.control)

    @cached_property
    def observed_lfc(self) -> np.ndarray:
        """lfc(x_c) = log2(x_c + 0.1) − log2(x_0 + 0.1)."""
        return _lfc(self.observed, self.control)

    @cached_property
    def observed_ranking(self) -> np.ndarray:
        """Genes of each condition by decreasing |d_c| (ties: gene order); T_c = the first k."""
        return _ranking(self.observed_delta)

    @cached_property
    def predicted_ranking(self) -> np.ndarray:
        """Genes of each condition by decreasing |e_c|; T̂_c = the first k."""
        return _ranking(self.predicted_delta)

    @cached_property
    def observed_constant(self) -> np.ndarray:
        """Whether d_c is constant (up to rounding): its top-k set is then undefined."""
        return _constant(self.observed_delta, self.constant_tolerance)

    @cached_property
    def predicted_constant(self) -> np.ndarray:
        """Whether e_c is constant (up to rounding)."""
        return _constant(self.predicted_delta, self.constant_tolerance)

    @cached_property
    def top_overlap(self) -> np.ndarray:
        """|T̂_c ∩ T_c| for each condition."""
        k = min(self.k, self.predicted.shape[1])
        in_true = np.zeros(self.predicted.shape, dtype=bool)
        np.put_along_axis(in_true, self.observed_ranking[:, :k], True, axis=1)
        return np.take_along_axis(in_true, self.predicted_ranking[:, :k], axis=1).sum(axis=1)

    @cached_property
    def pc_deltas(self) -> tuple[np.ndarray, np.ndarray]:
        """(e_c·V, d_c·V): the effects in the PC space (V = the PCA's components)."""
        if self.components is None:
            raise ValueError("ContextArrays.components (the PCA) is needed for PC-space metrics.")
        return self.predicted_delta @ self.components, self.observed_delta @ self.components


def _lfc(values: np.ndarray, control: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log2(values + LFC_PSEUDOCOUNT) - np.log2(control + LFC_PSEUDOCOUNT)


def _ranking(deltas: np.ndarray) -> np.ndarray:
    return np.argsort(-np.abs(deltas), axis=1, kind="stable")


def _constant(rows: np.ndarray, atol: float) -> np.ndarray:
    centred = rows - rows.mean(axis=1, keepdims=True)
    return ~(np.sqrt(np.mean(centred**2, axis=1)) > atol)


def rowwise_pearson(a: np.ndarray, b: np.ndarray, atol: float = 0.0) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b``.

    NaN where either row is constant: its rms deviation from its mean is at most ``atol``.
    """
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    ss_a, ss_b = (a * a).sum(axis=1), (b * b).sum(axis=1)
    n = a.shape[1]
    varying = (np.sqrt(ss_a / n) > atol) & (np.sqrt(ss_b / n) > atol)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(varying, (a * b).sum(axis=1) / np.sqrt(ss_a * ss_b), np.nan)


def rmse(arrays: ContextArrays) -> np.ndarray:
    """RMSE: sqrt(mean over genes of (y_c − x_c)²)."""
    return np.sqrt(np.mean((arrays.predicted - arrays.observed) ** 2, axis=1))


def pdcorr(arrays: ContextArrays) -> np.ndarray:
    """PDCorr ("Pearson delta"): ρ(e_c, d_c) over genes."""
    return rowwise_pearson(arrays.predicted_delta, arrays.observed_delta, arrays.constant_tolerance)


def masked_l1_distances(
    predicted: np.ndarray, observed: np.ndarray, excluded: np.ndarray, chunk_bytes: float = 8e6
) -> np.ndarray:
    """``D[c, q] = Σ_g (1 − excluded[c, g]) · |predicted[c, g] − observed[q, g]|`` (P × P)."""
    n = predicted.shape[0]
    weights = (~excluded).astype(predicted.dtype)
    distances = np.empty((n, observed.shape[0]))
    step = max(1, int(chunk_bytes // (8 * max(1, observed.size))))
    for start in range(0, n, step):
        block = slice(start, start + step)
        diff = np.abs(predicted[block, None, :] - observed[None, :, :])
        distances[block] = np.einsum("cqg,cg->cq", diff, weights[block])
    return distances


def pds(arrays: ContextArrays) -> np.ndarray:
    """PDS: 1 − (#{q ≠ c : ‖e_c − d_q‖₁ < ‖e_c − d_c‖₁} + ½·#{q ≠ c : equal}) / (P − 1).

    The target gene(s) of condition c are left out of the genes of row c when they are measured.
    NaN when the context has fewer than 2 conditions. 1 = best, 0.5 = random. Computed in blocks
    of rows: memory O(P·block), not O(P²).
    """
    n = arrays.predicted.shape[0]
    if n < 2:
        return np.full(n, np.nan)
    closer, ties = np.empty(n), np.empty(n)
    for block in _row_blocks(n, n):
        distances = masked_l1_distances(
            arrays.predicted_delta[block], arrays.observed_delta, arrays.target_mask[block]
        )
        closer[block], ties[block] = _count_against_own(distances, block, np.less)
    return 1.0 - (closer + 0.5 * ties) / (n - 1)


RETRIEVAL_BLOCK_BYTES = 32e6


def _row_blocks(n_rows: int, row_length: int) -> list[slice]:
    """Consecutive row blocks of an ``n_rows × row_length`` float64 matrix, about 32 MB each."""
    step = max(1, int(RETRIEVAL_BLOCK_BYTES // (8 * max(1, row_length))))
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def _count_against_own(
    values: np.ndarray, block: slice, better: np.ufunc
) -> tuple[np.ndarray, np.ndarray]:
    """Per row r of a block (global row ``block.start + r``): #{q ≠ row : better(values[r, q],
    own)} and #{q ≠ row : equal}, where own = values[r, row]."""
    rows = np.arange(block.start, block.stop)
    local = np.arange(len(rows))
    own = values[local, rows][:, None]
    others = np.ones(values.shape, dtype=bool)
    others[local, rows] = False
    return (better(values, own) & others).sum(axis=1), ((values == own) & others).sum(axis=1)


def _nan(arrays: ContextArrays) -> np.ndarray:
    return np.full(arrays.n_conditions, np.nan)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks (1 … n) within each row of a 2-D array, ties given their average rank; a row holding a
    NaN is all NaN. The same values as ``scipy.stats.rankdata(values, axis=1)``, without importing
    scipy.stats (~32 MiB)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[1]
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    positions = np.broadcast_to(np.arange(n), values.shape)
    starts = np.ones(values.shape, dtype=bool)  # first position of each run of equal values
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones(values.shape, dtype=bool)  # last position of each run
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, positions, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, positions, n)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(values.shape)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=1)
    ranks[np.isnan(values).any(axis=1)] = np.nan
    return ranks


def rowwise_spearman(a: np.ndarray, b: np.ndarray, atol: float = 0.0) -> np.ndarray:
    """Spearman correlation of each row of ``a`` with the same row of ``b`` (average ranks for ties).

    NaN where either row is constant (rms deviation at most ``atol``) or holds a NaN.
    """
    constant = _constant(a, atol) | _constant(b, atol)
    with np.errstate(invalid="ignore"):
        out = rowwise_pearson(average_ranks(a), average_ranks(b))
    out[constant] = np.nan
    return out


def rowwise_cosine(a: np.ndarray, b: np.ndarray, atol: float = 0.0) -> np.ndarray:
    """Cosine similarity of each row of ``a`` with the same row of ``b``; NaN for a (near-)zero row."""
    n = a.shape[1]
    norm_a, norm_b = np.sqrt((a * a).sum(axis=1)), np.sqrt((b * b).sum(axis=1))
    defined = (norm_a / np.sqrt(n) > atol) & (norm_b / np.sqrt(n) > atol)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined, (a * b).sum(axis=1) / (norm_a * norm_b), np.nan)


def _unit_rows(rows: np.ndarray, atol: float, centre: bool) -> np.ndarray:
    """Rows scaled to unit norm (centred first for Pearson); NaN rows where undefined."""
    if centre:
        rows = rows - rows.mean(axis=1, keepdims=True)
    norm = np.sqrt((rows * rows).sum(axis=1))
    defined = norm / np.sqrt(rows.shape[1]) > atol
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(defined[:, None], rows / norm[:, None], np.nan)


def _rank_among_predictions(predicted: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """``r_c = (#{q ≠ c : S[q, c] > S[c, c]} + ½·#{q ≠ c : equal}) / (P − 1)`` for each c.

    ``S[q, c] = predicted[q] · observed[c]`` (unit rows: a correlation or a cosine). Equal = within
    ``RANK_TIE_ATOL``; an undefined (NaN) ``S[q, c]`` counts as equal; NaN when ``S[c, c]`` is
    undefined or ``P < 2``. Computed in blocks of columns c: memory O(P·block), not O(P²).
    """
    p = predicted.shape[0]
    if p < 2:
        return np.full(p, np.nan)
    out = np.empty(p)
    for block in _row_blocks(p, p):
        similarity = observed[block] @ predicted.T  # row j: S[:, c] for c = block.start + j
        columns = np.arange(block.start, block.stop)
        local = np.arange(len(columns))
        own = similarity[local, columns]
        others = np.ones(similarity.shape, dtype=bool)
        others[local, columns] = False
        diff = similarity - own[:, None]
        with np.errstate(invalid="ignore"):
            better = (diff > RANK_TIE_ATOL) & others
            tied = ((np.abs(diff) <= RANK_TIE_ATOL) | np.isnan(similarity)) & others
        out[block] = (better.sum(axis=1) + 0.5 * tied.sum(axis=1)) / (p - 1)
        out[block][np.isnan(own)] = np.nan
    return out


# --- correlation --------------------------------------------------------------------------------


def pcc(arrays: ContextArrays) -> np.ndarray:
    """PCC: ρ(y_c, x_c) over genes."""
    return rowwise_pearson(arrays.predicted, arrays.observed, arrays.constant_tolerance)


def pdcorr_de(arrays: ContextArrays) -> np.ndarray:
    """ρ(e_c, d_c) over the top-20 genes of T_c (by |d_c|)."""
    top = arrays.observed_ranking[:, : min(TOP_K_DE, arrays.k)]
    e = np.take_along_axis(arrays.predicted_delta, top, axis=1)
    d = np.take_along_axis(arrays.observed_delta, top, axis=1)
    return rowwise_pearson(e, d, arrays.constant_tolerance)


def pdcorr_systema(arrays: ContextArrays) -> np.ndarray:
    """ρ(y_c − s, x_c − s), s = the test context's perturbed centroid: the mean over the context's
    test conditions of their observed means x_c (Systema). NaN with fewer than 2 conditions, where
    x_c − s is 0. A prediction that is the same for every condition (no_change, perturbed_mean)
    scores about 0; one with the true perturbation-specific effects scores 1."""
    if arrays.n_conditions < 2:
        return _nan(arrays)
    s = arrays.observed.mean(axis=0)
    return rowwise_pearson(arrays.predicted - s, arrays.observed - s, arrays.constant_tolerance)


def lfc_spearman(arrays: ContextArrays) -> np.ndarray:
    """LFCSpear: ρ_s(lfc(y_c), lfc(x_c))."""
    return rowwise_spearman(arrays.predicted_lfc, arrays.observed_lfc, arrays.constant_tolerance)


def lfc_cosine(arrays: ContextArrays) -> np.ndarray:
    """LogFC: cos(lfc(y_c), lfc(x_c))."""
    return rowwise_cosine(arrays.predicted_lfc, arrays.observed_lfc, arrays.constant_tolerance)


def pca_delta_spearman(arrays: ContextArrays) -> np.ndarray:
    """PCA-LFCSpear: ρ_s(e_c·V, d_c·V), V = the first 50 PCs of the context's real test cells."""
    pc_e, pc_d = arrays.pc_deltas
    return rowwise_spearman(pc_e, pc_d, arrays.constant_tolerance)


# --- retrieval ----------------------------------------------------------------------------------


def rank_pdcorr(arrays: ContextArrays) -> np.ndarray:
    """PDRCorr: per real c, the rank of ρ(e_c, d_c) among ρ(e_q, d_c), q ≠ c (0 best, 0.5 random)."""
    tol = arrays.constant_tolerance
    e = _unit_rows(arrays.predicted_delta, tol, centre=True)
    d = _unit_rows(arrays.observed_delta, tol, centre=True)
    return _rank_among_predictions(e, d)


def rank_lfc_cosine(arrays: ContextArrays) -> np.ndarray:
    """RLogFC: the same rank with cos(lfc(y_q), lfc(x_c))."""
    tol = arrays.constant_tolerance
    y = _unit_rows(arrays.predicted_lfc, tol, centre=False)
    x = _unit_rows(arrays.observed_lfc, tol, centre=False)
    return _rank_among_predictions(y, x)


def pairwise_squared_euclidean(
    a: np.ndarray, b: np.ndarray, chunk_bytes: float = 8e6
) -> np.ndarray:
    """``D[c, q] = ‖a_c − b_q‖²`` computed from differences (exact ties stay exact), in chunks."""
    out = np.empty((a.shape[0], b.shape[0]))
    step = max(1, int(chunk_bytes // (8 * max(1, b.size))))
    for start in range(0, a.shape[0], step):
        block = slice(start, start + step)
        out[block] = ((a[block, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    return out


def centroid_accuracy(arrays: ContextArrays) -> np.ndarray:
    """Fraction of the other real centroids x_q with ‖y_c − x_q‖₂ > ‖y_c − x_c‖₂ (1 best)."""
    p = arrays.n_conditions
    if p < 2:
        return _nan(arrays)
    farther = np.empty(p)
    for block in _row_blocks(p, p):  # memory O(P·block), not O(P²)
        distances = pairwise_squared_euclidean(arrays.predicted[block], arrays.observed)
        farther[block] = _count_against_own(distances, block, np.greater)[0]
    return farther / (p - 1)


# --- differential expression (top-k by |delta|) ---------------------------------------------------


def _top_k_defined(arrays: ContextArrays) -> np.ndarray:
    return ~(arrays.observed_constant | arrays.predicted_constant)


def de_precision(arrays: ContextArrays) -> np.ndarray:
    """DEPrec: |T̂_c ∩ T_c| / |T̂_c| (NaN when d_c or e_c is constant: no top-k)."""
    k = min(arrays.k, arrays.predicted.shape[1])
    return np.where(_top_k_defined(arrays), arrays.top_overlap / k, np.nan)


def de_recall(arrays: ContextArrays) -> np.ndarray:
    """DERec: |T̂_c ∩ T_c| / |T_c| (equals DEPrec: both sets have k genes)."""
    return de_precision(arrays)


def de_overlap(arrays: ContextArrays) -> np.ndarray:
    """DEOverlap: |T̂_c ∩ T_c| / |T̂_c union T_c| (Jaccard)."""
    k = min(arrays.k, arrays.predicted.shape[1])
    overlap = arrays.top_overlap
    return np.where(_top_k_defined(arrays), overlap / (2 * k - overlap), np.nan)


def _signs_on_top(arrays: ContextArrays) -> tuple[np.ndarray, np.ndarray]:
    """sign(e_c[g]), sign(d_c[g]) for g ∈ T_c; values within rounding of 0 have sign 0."""
    top = arrays.observed_ranking[:, : min(arrays.k, arrays.predicted.shape[1])]
    tol = arrays.constant_tolerance
    e = np.take_along_axis(arrays.predicted_delta, top, axis=1)
    d = np.take_along_axis(arrays.observed_delta, top, axis=1)
    return np.sign(np.where(np.abs(e) > tol, e, 0.0)), np.sign(np.where(np.abs(d) > tol, d, 0.0))


def de_sign_error(arrays: ContextArrays) -> np.ndarray:
    """Fraction of g ∈ T_c with sign(e_c[g]) ≠ sign(d_c[g]) (0 best, ≈ 0.5 random)."""
    e, d = _signs_on_top(arrays)
    return np.where(arrays.observed_constant, np.nan, (e != d).mean(axis=1))


def _sign_accuracy(arrays: ContextArrays, direction: float) -> np.ndarray:
    e, d = _signs_on_top(arrays)
    chosen = d == direction
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((e == d) & chosen).sum(axis=1) / np.where(
            chosen.any(axis=1), chosen.sum(axis=1), np.nan
        )


def de_sign_acc_up(arrays: ContextArrays) -> np.ndarray:
    """Sign agreement on the up-regulated genes (d_c > 0) of T_c; NaN when there are none."""
    return _sign_accuracy(arrays, 1.0)


def de_sign_acc_down(arrays: ContextArrays) -> np.ndarray:
    """Sign agreement on the down-regulated genes (d_c < 0) of T_c; NaN when there are none."""
    return _sign_accuracy(arrays, -1.0)


def mse_de(arrays: ContextArrays) -> np.ndarray:
    """Mean over the top-20 genes of T_c of (y_c − x_c)²."""
    top = arrays.observed_ranking[:, : min(TOP_K_DE, arrays.k)]
    diff = np.take_along_axis(arrays.predicted - arrays.observed, top, axis=1)
    return np.mean(diff**2, axis=1)


# --- distance -----------------------------------------------------------------------------------


def mse(arrays: ContextArrays) -> np.ndarray:
    """Mean over genes of (y_c − x_c)²."""
    return np.mean((arrays.predicted - arrays.observed) ** 2, axis=1)


def mae(arrays: ContextArrays) -> np.ndarray:
    """Mean over genes of |y_c − x_c|."""
    return np.mean(np.abs(arrays.predicted - arrays.observed), axis=1)


def cell_level(name: str):
    """The function of a cell-level metric: its values, computed from the cells during evaluation."""

    def lookup(arrays: ContextArrays) -> np.ndarray:
        values = arrays.cell_values.get(name)
        return _nan(arrays) if values is None else np.asarray(values, dtype=np.float64)

    lookup.__name__ = name
    lookup.__doc__ = f"``{name}``: computed from the cells of each condition (see cells.py)."
    return lookup
