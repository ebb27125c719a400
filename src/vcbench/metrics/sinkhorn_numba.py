"""The inner step of log-domain Sinkhorn, fused into one numba kernel: a row-wise log-sum-exp.

The fallback of the compiled kernel (``vcbench.metrics._sinkhorn``, the same algorithm in C), used
where that could not be built; ``vcbench.metrics.sinkhorn_kernel`` picks one.

``row_logsumexp(cost, inv_eps, h, out)`` sets ``out[i] = log Σ_j exp(h_j − cost_ij·inv_eps)``. It
reads each row twice (its maximum, then the sum of the exponentials shifted by it) and allocates
nothing, where the numpy version made about six passes over a full-size temporary. The exponent
``h_j − cost_ij·inv_eps − max`` is formed in float64 and lies in [−∞, 0]; its exponential is taken
in float32 with a vectorisable polynomial (relative error < 4e-7; terms below ``exp(−87)`` of the
largest count as ``exp(−87)``), and the sum is accumulated in float64. So ``out`` carries a relative error of
about 4e-7 of 1 (the log of a sum of positive terms), i.e. the Sinkhorn potentials ``−ε·out`` an
absolute error of about 4e-7·ε. The kernel releases the GIL (``nogil``), so several conditions'
Sinkhorn problems run side by side on threads. The reduction order is fixed by the compiled code:
the same inputs give the same bits on the same machine, in any process or thread.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_LOG2E = np.float32(1.4426950408889634)
_LN2_HI = np.float32(0.693359375)  # ln 2 split in two for an exact range reduction
_LN2_LO = np.float32(-2.12194440e-4)
_LOWEST = np.float32(-87.0)  # exp(−87) ≈ 1.6e-38, near the smallest normal float32


@intrinsic
def _int32_as_float32(typingctx, value):  # type: ignore[no-untyped-def]
    """Reinterpret the bits of an int32 as a float32 (no conversion)."""
    signature = types.float32(types.int32)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.FloatType())

    return signature, codegen


@intrinsic
def _float64_as_int64(typingctx, value):  # type: ignore[no-untyped-def]
    """Reinterpret the bits of a float64 as an int64 (no conversion)."""
    signature = types.int64(types.float64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.IntType(64))

    return signature, codegen


@intrinsic
def _int64_as_float64(typingctx, value):  # type: ignore[no-untyped-def]
    """Reinterpret the bits of an int64 as a float64 (no conversion)."""
    signature = types.float64(types.int64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.DoubleType())

    return signature, codegen


@njit(inline="always", fastmath=True)
def _ordered(bits: int) -> int:
    """An int64 that orders like the float64 whose bits these are (its own inverse)."""
    return bits ^ ((bits >> np.int64(63)) & np.int64(0x7FFFFFFFFFFFFFFF))


@njit(inline="always", fastmath=True)
def _exp32(x: float) -> float:
    """``exp(x)`` for ``x ≤ 0`` in float32: ``2^k·p(r)``, ``r = x − k·ln 2``, ``p`` of degree 7.

    ``x`` below −87 counts as −87 (a term of at most 1.6e-38 where the largest term is 1).
    """
    x = x if x > _LOWEST else _LOWEST
    t = x * _LOG2E
    k = np.int32(t - np.float32(0.5))  # t ≤ 0: truncation towards zero rounds t to nearest
    kf = np.float32(k)
    r = x - kf * _LN2_HI - kf * _LN2_LO
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * r * r + r + np.float32(1.0)
    return p * _int32_as_float32((k + np.int32(127)) << np.int32(23))


@njit(nogil=True, fastmath=True, cache=True)
def row_logsumexp(cost: np.ndarray, inv_eps: float, h: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = log Σ_j exp(h[j] − cost[i, j]·inv_eps)`` (cost C-contiguous float64)."""
    n, m = cost.shape
    for i in range(n):
        top = np.int64(-0x7FFFFFFFFFFFFFFF)
        for j in range(m):  # the row maximum, as ordered integers (a vectorisable max)
            top = max(top, _ordered(_float64_as_int64(h[j] - cost[i, j] * inv_eps)))
        shift = _int64_as_float64(_ordered(top))
        total = 0.0
        for j in range(m):
            total += np.float64(_exp32(np.float32(h[j] - cost[i, j] * inv_eps - shift)))
        out[i] = shift + math.log(total)
