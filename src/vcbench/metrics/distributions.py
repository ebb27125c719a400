"""Distances between two samples of cells: energy distance, Sinkhorn divergence, RBF-kernel MMD.

All three are computed from the same three squared-distance matrices (Y–X, X–X, Y–Y), so each
matrix is computed once per condition and space (genes, or the 50-PC space).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

BLUR = 0.05
SCALING = 0.8
SYMMETRIC_SCALING = 0.5  # the averaged symmetric update needs no fine annealing
TOL = 1e-7
MAX_ITER = 20
Gram = Literal["float64", "float32"]
# gram="float32" against "float64": the change of each value relative to the scale of the terms it
# is a difference of: 2·E‖y − x‖ (energy distance), 1 (the kernel's maximum; MMD), OT_ε(Y, X)
# (Sinkhorn). Measured on the 29k case: 1e-9, 6e-10 and 2e-8 (tests/test_distance_memory.py).
GRAM_FLOAT32_TOLERANCE = 1e-7


NORM_BLOCK_VALUES = 1 << 16  # row norms are formed over blocks of about this many values


def row_norms(a: np.ndarray) -> np.ndarray:
    """``‖a_i‖²`` per row in float64: ``(a * a).sum(axis=1)`` over blocks of rows (the same bits,
    since each row's sum is its own reduction), so the temporary is a block, not a copy of ``a``."""
    out = np.empty(a.shape[0])
    step = max(1, NORM_BLOCK_VALUES // max(1, a.shape[1]))
    for start in range(0, a.shape[0], step):
        block = a[start : start + step].astype(np.float64, copy=False)
        out[start : start + step] = (block * block).sum(axis=1)
    return out


def squared_distances(
    a: np.ndarray,
    b: np.ndarray,
    a_norms: np.ndarray | None = None,
    b_norms: np.ndarray | None = None,
) -> np.ndarray:
    """``‖a_i − b_j‖²`` for all row pairs (one matrix product; clipped at 0 against rounding).

    ``a_norms``/``b_norms``: ``row_norms`` of ``a``/``b`` where already known.
    """
    out = (a @ b.T).astype(np.float64, copy=False)  # float32 factors: a float32 product
    out *= -2.0
    out += (row_norms(a) if a_norms is None else a_norms)[:, None]
    out += (row_norms(b) if b_norms is None else b_norms)[None, :]
    return np.clip(out, 0.0, None, out=out)


def _exp_sum(sq: np.ndarray, scale: float) -> float:
    """``Σ exp(sq·scale)`` with one temporary."""
    out = sq * scale
    return float(np.exp(out, out=out).sum())


def _upper(n: int) -> np.ndarray:
    """Boolean mask of the strict upper triangle of an n × n matrix (1 byte per entry, where
    ``np.triu_indices`` takes 16 per pair)."""
    return np.triu(np.ones((n, n), dtype=bool), 1)


@dataclass(frozen=True)
class SamplePair:
    """A predicted sample ``y`` and a real sample ``x`` (rows = cells), with their distance matrices.

    ``truth_memo(name, compute)`` may return a value of ``x`` alone computed before (the same
    computation, so the same bits); by default it just calls ``compute``.

    ``gram``: the precision of the matrix products behind the distances. ``"float64"`` (default):
    ``‖a‖² + ‖b‖² − 2a·b`` from the samples as given. ``"float32"``: both samples are centred on
    ``x``'s mean (distances do not change under a common shift, and centring removes most of the
    cancellation), rounded to float32, and multiplied in float32 (half the CPU time of float64);
    the norms and the sums over the matrices stay in float64 (``GRAM_FLOAT32_TOLERANCE``).
    """

    y: np.ndarray
    x: np.ndarray
    truth_memo: Callable[[str, Callable[[], float]], float] | None = field(
        default=None, compare=False
    )
    gram: Gram = "float64"

    def __post_init__(self) -> None:
        if self.gram not in ("float64", "float32"):
            raise ValueError(f"gram={self.gram!r} is not 'float64' or 'float32'")

    def _truth(self, name: str, compute: Callable[[], float]) -> float:
        name = name if self.gram == "float64" else f"{name}_gram_{self.gram}"
        return compute() if self.truth_memo is None else self.truth_memo(name, compute)

    @cached_property
    def _factors(self) -> tuple[np.ndarray, np.ndarray]:
        """The samples the products are taken of: as given, or centred and in float32."""
        if self.gram == "float64":
            return self.y, self.x
        centre = self.x.mean(axis=0)
        return (self.y - centre).astype(np.float32), (self.x - centre).astype(np.float32)

    @cached_property
    def _y_norms(self) -> np.ndarray:
        return row_norms(self._factors[0])

    @cached_property
    def _x_norms(self) -> np.ndarray:
        return row_norms(self._factors[1])

    @cached_property
    def sq_yx(self) -> np.ndarray:
        """‖y_i − x_j‖²."""
        y, x = self._factors
        return squared_distances(y, x, self._y_norms, self._x_norms)

    @cached_property
    def sq_yy(self) -> np.ndarray:
        """‖y_i − y_j‖² (zero diagonal)."""
        y = self._factors[0]
        out = squared_distances(y, y, self._y_norms, self._y_norms)
        np.fill_diagonal(out, 0.0)
        return out

    @cached_property
    def sq_xx(self) -> np.ndarray:
        """‖x_i − x_j‖² (zero diagonal)."""
        x = self._factors[1]
        out = squared_distances(x, x, self._x_norms, self._x_norms)
        np.fill_diagonal(out, 0.0)
        return out

    @property
    def defined(self) -> bool:
        """Whether both samples have at least 2 cells (within-sample means need distinct pairs)."""
        return self.y.shape[0] >= 2 and self.x.shape[0] >= 2

    def energy_distance(self) -> float:
        """``2·E‖y − x‖ − E‖x − x′‖ − E‖y − y′‖``, Euclidean, within-set means over distinct pairs."""
        if not self.defined:
            return float("nan")
        n, m = self.y.shape[0], self.x.shape[0]
        between = np.sqrt(self.sq_yx).mean()
        within_y = np.sqrt(self.sq_yy).sum() / (n * (n - 1))
        within_x = self._truth("energy_within_x", lambda: np.sqrt(self.sq_xx).sum() / (m * (m - 1)))
        return float(2.0 * between - within_x - within_y)

    def mmd_rbf(self) -> float:
        """Unbiased squared MMD with ``k(a, b) = exp(−‖a − b‖² / (2σ²))``.

        ``σ`` = median Euclidean distance over the distinct pairs of the pooled sample.
        ``MMD² = mean_{i≠j} k(y_i, y_j) + mean_{i≠j} k(x_i, x_j) − 2·mean_{i,j} k(y_i, x_j)``.
        """
        if not self.defined:
            return float("nan")
        n, m = self.y.shape[0], self.x.shape[0]
        pooled = np.concatenate(
            [
                self.sq_yx.ravel(),
                self.sq_yy[_upper(n)],  # the pairs i < j, row by row (as np.triu_indices)
                self.sq_xx[_upper(m)],
            ]
        )
        # median of squared = square of median distance; pooled is ours: partitioned in place
        sigma2 = float(np.median(pooled, overwrite_input=True))
        if sigma2 <= 0:
            return float("nan")
        scale = -0.5 / sigma2
        k_yy = (_exp_sum(self.sq_yy, scale) - n) / (n * (n - 1))
        k_xx = (_exp_sum(self.sq_xx, scale) - m) / (m * (m - 1))
        k_yx = _exp_sum(self.sq_yx, scale) / self.sq_yx.size
        return float(k_yy + k_xx - 2.0 * k_yx)

    def sinkhorn(self, blur: float = BLUR) -> float:
        """Debiased Sinkhorn divergence ``OT_ε(Y, X) − ½OT_ε(Y, Y) − ½OT_ε(X, X)``.

        Cost ``½‖a − b‖²``, uniform weights, ``ε = blur²``. NaN with fewer than 2 cells on a side.
        """
        if not self.defined:
            return float("nan")
        eps = blur**2
        ot_xx = self._truth(
            f"ot_xx_{blur!r}",
            lambda: entropic_ot(0.5 * self.sq_xx, eps, symmetric=True, scaling=SYMMETRIC_SCALING),
        )
        return (
            entropic_ot(0.5 * self.sq_yx, eps)
            - 0.5 * entropic_ot(0.5 * self.sq_yy, eps, symmetric=True, scaling=SYMMETRIC_SCALING)
            - 0.5 * ot_xx
        )


def _eps_schedule(cost_max: float, eps: float, scaling: float) -> list[float]:
    """ε-scaling: blur from the cost's diameter down to ``√ε``, times ``scaling`` per step (ε = blur²)."""
    diameter = np.sqrt(max(2.0 * cost_max, eps))
    blur = np.sqrt(eps)
    out = []
    while diameter > blur:
        out.append(float(diameter**2))
        diameter *= scaling
    return out


def entropic_ot(
    cost: np.ndarray,
    eps: float,
    *,
    symmetric: bool = False,
    scaling: float = SCALING,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
) -> float:
    """``OT_ε(a, b) = min_π ⟨C, π⟩ + ε·KL(π ‖ a⊗b)`` for uniform ``a``, ``b`` (log-domain Sinkhorn).

    Returned as the dual value ``⟨a, f⟩ + ⟨b, g⟩`` after a ``g`` update (where it equals the dual
    objective). ε-scaling warms the potentials up (blur from the cost's diameter down to ``√ε``,
    times ``scaling`` per step); Sinkhorn iterations at ``ε`` then run until the potentials move by
    less than ``tol·(1 + max C)``, at most ``max_iter`` times. ``symmetric=True`` (``C`` between a
    sample and itself) uses the averaged update ``f ← ½(f + softmin(f))``, which converges faster.
    """
    # numba (~100 MiB with its first call, docs/performance.md) loads only where OT is solved
    from vcbench.metrics.sinkhorn_kernel import row_logsumexp

    cost = np.ascontiguousarray(cost, dtype=np.float64)
    n, m = cost.shape
    log_a, log_b = np.full(n, -np.log(n)), np.full(m, -np.log(m))
    f, g = np.zeros(n), np.zeros(m)
    cost_max = float(cost.max())
    threshold = tol * (1.0 + cost_max)
    schedule = _eps_schedule(cost_max, eps, scaling)
    final = len(schedule)
    cost_t = cost if symmetric else np.ascontiguousarray(cost.T)
    lse_f, lse_g = np.empty(n), np.empty(m)
    for step in range(final + max_iter):
        e = schedule[step] if step < final else eps
        inv = 1.0 / e
        if symmetric:
            row_logsumexp(cost, inv, log_a + f * inv, lse_f)
            f_new = 0.5 * (f - e * lse_f)
            moved = np.abs(f_new - f).max()
            f = g = f_new
        else:
            row_logsumexp(cost, inv, log_b + g * inv, lse_f)
            f_new = -e * lse_f
            row_logsumexp(cost_t, inv, log_a + f_new * inv, lse_g)
            g_new = -e * lse_g
            moved = max(np.abs(f_new - f).max(), np.abs(g_new - g).max())
            f, g = f_new, g_new
        if step >= final and moved < threshold:
            break
    return float(f.mean() + g.mean())
