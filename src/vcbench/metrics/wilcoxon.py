"""Two-sided Wilcoxon rank-sum tests of a group of cells against a context's controls, all genes at once.

The controls are sorted once per context, and their distinct (gene, value) keys tabled with their
counts; each tested group is then placed among them with one vectorised ``searchsorted`` over all
(gene, value) keys, so no test re-ranks the controls.

Definitions (identical to ``scipy.stats.mannwhitneyu(x, controls, method="asymptotic")``):
``U = #{(i, j) : x_i > c_j} + ½·#{(i, j) : x_i = c_j}``; ``μ = n·n₀/2``;
``σ² = n·n₀/12 · ((N + 1) − Σ_t (t³ − t) / (N(N − 1)))`` with ``N = n + n₀`` and ``t`` the sizes of the
groups of tied values in the pooled sample; ``z = (|U − μ| − ½) / σ`` (continuity correction);
``p = min(1, 2·(1 − Φ(z)))``, and ``p = 1`` when every value of the gene is tied (``σ = 0``).
"""

from __future__ import annotations

import threading

import numpy as np
from scipy.special import ndtr

_GENE_STRIDE = np.int64(1) << np.int64(33)
_GENE_BLOCK = 128
_BLOCK_VALUES = 1 << 18  # values of cells per gene block of a test (2 MB of float64)


def _float32_exact(values: np.ndarray) -> bool:
    return bool(np.array_equal(values.astype(np.float32), values))


def _keys(genes: np.ndarray, values: np.ndarray, exact32: bool) -> np.ndarray:
    """One sortable scalar per (gene, value) pair (``genes`` int64, ``values`` float64, same shape).

    float32-representable values map to an order-preserving int64 (gene in the high bits); other
    values to complex numbers ``g + i·value`` (numpy orders complex numbers lexicographically).
    """
    if exact32:
        bits = values.astype(np.float32).view(np.int32).astype(np.int64)
        ordered = np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)
        return genes * _GENE_STRIDE + ordered
    return genes + 1j * values


def _cubed(counts: np.ndarray) -> np.ndarray:
    """``counts³`` of whole numbers held as float64, by two products (``**`` calls a vectorised
    ``pow``, several times slower): exact for counts below 2^17, else within an ulp, as ``pow``."""
    return counts * counts * counts


def _runs(sorted_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts (flat positions) and lengths of the runs of equal values in each row of a sorted matrix."""
    n_rows, n = sorted_rows.shape
    new = np.ones((n_rows, n), dtype=bool)
    new[:, 1:] = sorted_rows[:, 1:] != sorted_rows[:, :-1]
    starts = np.flatnonzero(new.ravel())
    lengths = np.diff(np.append(starts, n_rows * n)).astype(np.float64)
    return starts, lengths


class ControlRanks:
    """The sorted control cells of one context, ready to test many groups of cells against.

    Kept as a table of the controls' distinct (gene, value) pairs, in (gene, value) order: each
    one's value, the number of control values before it (a final entry: all of them) and its
    multiplicity (final entry: 0); on sparse log-normalised data about a third of the values.
    """

    def __init__(self, controls: np.ndarray) -> None:
        controls = np.asarray(controls, dtype=np.float64)
        self.n, self.n_genes = controls.shape
        self._exact32 = _float32_exact(controls)
        self._tie_term = np.empty(self.n_genes)
        values, below, multiplicity = [], [], []
        for first in range(0, self.n_genes, _GENE_BLOCK):  # blocks of genes bound the temporaries
            block = np.ascontiguousarray(controls[:, first : first + _GENE_BLOCK].T)
            block.sort(axis=1)  # genes × controls
            starts, lengths = _runs(block)  # the distinct values of each gene, in order
            self._tie_term[first : first + len(block)] = np.bincount(
                starts // self.n, weights=_cubed(lengths) - lengths, minlength=len(block)
            )
            distinct = block.ravel()[starts]
            values.append(distinct.astype(np.float32) if self._exact32 else distinct)
            below.append(starts + first * self.n)
            multiplicity.append(lengths.astype(np.int64))
        total = np.array([self.n * self.n_genes], dtype=np.int64)
        self._values = np.concatenate(values) if values else np.empty(0)
        self._below = np.concatenate([*below, total])
        self._multiplicity = np.concatenate([*multiplicity, np.zeros(1, dtype=np.int64)])
        self._keys: dict[bool, np.ndarray] = {}
        self._lock = threading.Lock()  # groups may be tested from several threads

    def __getstate__(self) -> dict[str, object]:  # picklable (e.g. sent to a Dask worker)
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _control_table(self, exact32: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sorted keys of the controls' distinct (gene, value) pairs, the number of control
        values below each and each one's multiplicity (both with a final entry).

        A search among the distinct keys gives both ends of a key's run of equal control values,
        so one search replaces two."""
        with self._lock:
            if exact32 not in self._keys:
                genes = self._below[:-1] // self.n
                values = self._values.astype(np.float64)
                self._keys[exact32] = _keys(genes, values, exact32)
            return self._keys[exact32], self._below, self._multiplicity

    def u_statistic_and_pvalue(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """U of ``cells`` (n × genes) against the controls and the two-sided p-value, per gene.

        Computed in blocks of genes (about ``_BLOCK_VALUES`` values of ``cells`` each), so the temporaries stay
        a few MB for any number of cells; each gene's sums are formed in the same order either way.
        """
        cells = np.asarray(cells, dtype=np.float64)
        m = cells.shape[0]
        step = max(1, _BLOCK_VALUES // max(m, 1))
        blocks = [slice(first, first + step) for first in range(0, self.n_genes, step)]
        exact32 = self._exact32 and all(_float32_exact(cells[:, block]) for block in blocks)
        distinct, below, multiplicity = self._control_table(exact32)
        u, added = np.empty(self.n_genes), np.empty(self.n_genes)
        for block in blocks:
            rows = np.ascontiguousarray(cells[:, block].T)  # genes × cells, rows sorted in place
            rows.sort(axis=1)
            starts, a = _runs(rows)  # each run of tied values is placed among the controls once
            local = starts // m
            gene = local + block.start
            keys = _keys(gene, rows.ravel()[starts], exact32)
            at = np.searchsorted(distinct, keys, side="left")  # first distinct key ≥ key
            equal = (
                distinct[np.minimum(at, distinct.size - 1)] == keys
                if distinct.size
                else np.zeros(keys.shape, dtype=bool)
            )
            b = np.where(equal, multiplicity[at], 0).astype(np.float64)  # controls tied with it
            less = (below[at] - gene * self.n).astype(np.float64)  # this gene's controls below
            size = rows.shape[0]
            u[block] = np.bincount(local, weights=a * (less + 0.5 * b), minlength=size)
            pooled = a + b
            added[block] = np.bincount(
                local, weights=(_cubed(pooled) - pooled) - (_cubed(b) - b), minlength=size
            )
        tie_term = self._tie_term + added
        total = m + self.n
        mu = m * self.n / 2.0
        variance = m * self.n / 12.0 * ((total + 1) - tie_term / (total * (total - 1)))
        sigma = np.sqrt(np.clip(variance, 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (np.abs(u - mu) - 0.5) / sigma
            p = np.where(sigma > 0, np.clip(2.0 * ndtr(-z), 0.0, 1.0), 1.0)
        return u, p


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values along the last axis: ``q_(i) = min_{j≥i} p_(j)·m/j``, ≤ 1."""
    pvalues = np.atleast_2d(np.asarray(pvalues, dtype=np.float64))
    m = pvalues.shape[-1]
    order = np.argsort(pvalues, axis=-1, kind="stable")
    ranked = np.take_along_axis(pvalues, order, axis=-1) * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1]
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, np.minimum(adjusted, 1.0), axis=-1)
    return out
