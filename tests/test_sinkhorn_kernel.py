"""The fused Sinkhorn kernels (compiled C and numba) against scipy's log-sum-exp and each other, the
divergence against the previous numpy Sinkhorn and POT."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy.special import logsumexp

from vcbench.metrics import sinkhorn_kernel, sinkhorn_numba
from vcbench.metrics.distributions import (
    SCALING,
    SYMMETRIC_SCALING,
    SamplePair,
    _eps_schedule,
    entropic_ot,
)
from vcbench.metrics.sinkhorn_kernel import row_logsumexp

try:
    from vcbench.metrics import _sinkhorn
except ImportError:  # not built: no C compiler at install time
    _sinkhorn = None

KERNELS = {"numba": sinkhorn_numba.row_logsumexp}
if _sinkhorn is not None:
    KERNELS["c"] = _sinkhorn.row_logsumexp

# Stated tolerance of the kernel against the previous implementation (relative, on the divergence).
PREVIOUS_RTOL = 1e-6


def _numpy_softmin(eps: float, scaled: np.ndarray, h: np.ndarray, work: np.ndarray) -> np.ndarray:
    """The previous implementation's step (six numpy passes, float32 temporaries)."""
    np.subtract(h.astype(np.float32)[None, :], scaled, out=work)
    top = work.max(axis=1)
    np.subtract(work, top[:, None], out=work)
    np.maximum(work, np.float32(-80.0), out=work)
    np.exp(work, out=work)
    return -eps * (top.astype(np.float64) + np.log(work.sum(axis=1, dtype=np.float64)))


def _numpy_entropic_ot(
    cost: np.ndarray, eps: float, symmetric: bool, scaling: float, tol=1e-7, max_iter=20
) -> float:
    """The previous numpy implementation of ``entropic_ot`` (same schedule and stopping rule)."""
    n, m = cost.shape
    log_a, log_b = np.full(n, -np.log(n)), np.full(m, -np.log(m))
    f, g = np.zeros(n), np.zeros(m)
    threshold = tol * (1.0 + float(cost.max()))
    schedule = _eps_schedule(float(cost.max()), eps, scaling)
    final = len(schedule)
    work, work_t = np.empty((n, m), np.float32), np.empty((m, n), np.float32)
    for step in range(final + max_iter):
        e = schedule[step] if step < final else eps
        scaled, scaled_t = (cost / e).astype(np.float32), (cost.T / e).astype(np.float32)
        if symmetric:
            f_new = 0.5 * (f + _numpy_softmin(e, scaled, log_a + f / e, work))
            moved, f, g = np.abs(f_new - f).max(), f_new, f_new
        else:
            f_new = _numpy_softmin(e, scaled, log_b + g / e, work)
            g_new = _numpy_softmin(e, scaled_t, log_a + f_new / e, work_t)
            moved = max(np.abs(f_new - f).max(), np.abs(g_new - g).max())
            f, g = f_new, g_new
        if step >= final and moved < threshold:
            break
    return float(f.mean() + g.mean())


def _log_normalised_cells(rng: np.random.Generator, n: int, genes: int, noise: float) -> np.ndarray:
    base = np.random.default_rng(99).gamma(0.6, 1.0, genes)
    counts = rng.poisson(base * np.exp(rng.normal(0, noise, (n, genes)))).astype(float)
    return np.log1p(counts / counts.sum(axis=1, keepdims=True).clip(1) * 1e4)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("scale", [1e-3, 1.0, 50.0, 5e4])
def test_row_logsumexp_matches_scipy(kernel: str, scale: float) -> None:
    rng = np.random.default_rng(0)
    cost = rng.random((37, 53)) * scale
    h = rng.normal(0, scale, 53)
    out = np.empty(37)
    KERNELS[kernel](cost, 1.7, h, out)
    expected = logsumexp(h[None, :] - cost * 1.7, axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_row_logsumexp_keeps_a_dominant_term_and_ignores_negligible_ones(kernel: str) -> None:
    cost = np.array([[0.0, 1e6, 2e6], [5.0, 5.0, 5.0]])
    out = np.empty(2)
    KERNELS[kernel](cost, 1.0, np.zeros(3), out)
    assert out[0] == pytest.approx(0.0, abs=1e-12)  # exp(−1e6) terms vanish, no NaN
    assert out[1] == pytest.approx(-5.0 + np.log(3.0), rel=1e-7)


@pytest.mark.parametrize("space", ["genes", "pcs"])
def test_divergence_matches_the_previous_numpy_implementation(space: str) -> None:
    rng = np.random.default_rng(1)
    y = _log_normalised_cells(rng, 120, 200, 0.3)
    x = _log_normalised_cells(rng, 90, 200, 0.0)
    if space == "pcs":
        components = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)[2][:20].T
        y, x = y @ components, x @ components
    pair = SamplePair(y, x)
    costs = 0.5 * pair.sq_yx, 0.5 * pair.sq_yy, 0.5 * pair.sq_xx
    eps = 0.05**2
    previous = (
        _numpy_entropic_ot(costs[0], eps, False, SCALING)
        - 0.5 * _numpy_entropic_ot(costs[1], eps, True, SYMMETRIC_SCALING)
        - 0.5 * _numpy_entropic_ot(costs[2], eps, True, SYMMETRIC_SCALING)
    )
    assert pair.sinkhorn() == pytest.approx(previous, rel=PREVIOUS_RTOL)
    for cost, symmetric, scaling in [
        (costs[0], False, SCALING),
        (costs[2], True, SYMMETRIC_SCALING),
    ]:
        new = entropic_ot(cost, eps, symmetric=symmetric, scaling=scaling)
        old = _numpy_entropic_ot(cost, eps, symmetric, scaling)
        assert new == pytest.approx(old, rel=PREVIOUS_RTOL)


def test_entropic_ot_matches_pot_when_converged() -> None:
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(2)
    a_pts, b_pts = rng.normal(0, 1.0, (40, 3)), rng.normal(0.5, 1.0, (30, 3))
    cost = 0.5 * ot.dist(a_pts, b_pts)
    eps = 0.1
    a, b = np.full(40, 1 / 40), np.full(30, 1 / 30)
    plan = ot.sinkhorn(a, b, cost, eps, method="sinkhorn_log", numItermax=100000, stopThr=1e-13)
    expected = float((cost * plan).sum() + eps * (plan * np.log(plan / np.outer(a, b))).sum())
    value = entropic_ot(cost, eps, tol=1e-13, max_iter=5000)
    assert value == pytest.approx(expected, rel=1e-7)


def test_kernel_gives_the_same_bits_on_threads() -> None:
    rng = np.random.default_rng(3)
    pairs = [SamplePair(rng.normal(0, 1, (80, 10)), rng.normal(0.3, 1, (70, 10))) for _ in range(6)]
    serial = [p.sinkhorn() for p in pairs]
    with ThreadPoolExecutor(3) as pool:
        threaded = list(pool.map(lambda p: SamplePair(p.y, p.x).sinkhorn(), pairs))
    assert serial == threaded


def _compiler_available() -> bool:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(compiler) is not None


def test_the_compiled_kernel_is_built_and_used_where_a_compiler_is_present() -> None:
    if _sinkhorn is None:
        if not _compiler_available():
            pytest.skip("no C compiler at install time: the numba kernel is used (by design)")
        pytest.fail("a C compiler is present but vcbench.metrics._sinkhorn was not built")
    assert sinkhorn_kernel.KERNEL == "c"
    assert row_logsumexp is _sinkhorn.row_logsumexp


@pytest.mark.skipif(_sinkhorn is None, reason="the compiled kernel is not built")
def test_the_compiled_and_numba_kernels_agree() -> None:
    rng = np.random.default_rng(4)
    for n, m in [(1, 1), (5, 3), (483, 483), (200, 517)]:  # odd sizes: the vector remainders
        x, y = rng.normal(0, 1, (n, 8)), rng.normal(0.2, 1, (m, 8))
        cost = 0.5 * ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        h = rng.normal(0, 3, m)
        for inv_eps in (1.0, 400.0):
            compiled, jitted = np.empty(n), np.empty(n)
            _sinkhorn.row_logsumexp(cost, inv_eps, h, compiled)
            sinkhorn_numba.row_logsumexp(cost, inv_eps, h, jitted)
            # each is within 4e-7 of the exact value (float32 exponentials); measured: 3.4e-8
            np.testing.assert_allclose(compiled, jitted, rtol=0, atol=4e-7)


@pytest.mark.skipif(_sinkhorn is None, reason="the compiled kernel is not built")
def test_the_compiled_kernel_rejects_what_it_cannot_read() -> None:
    cost, h, out = np.zeros((3, 4)), np.zeros(4), np.zeros(3)
    with pytest.raises(TypeError, match="cost must be a C-contiguous float64"):
        _sinkhorn.row_logsumexp(np.zeros((4, 3)).T, 1.0, h, out)
    with pytest.raises(TypeError, match="h must be a 1-D float64"):
        _sinkhorn.row_logsumexp(cost, 1.0, h.astype(np.float32), out)
    with pytest.raises(TypeError, match="out must be a C-contiguous writable"):
        readonly = out.copy()
        readonly.flags.writeable = False
        _sinkhorn.row_logsumexp(cost, 1.0, h, readonly)
    with pytest.raises(ValueError, match="need cost"):
        _sinkhorn.row_logsumexp(cost, 1.0, np.zeros(5), out)


@pytest.mark.skipif(_sinkhorn is None, reason="the compiled kernel is not built")
def test_a_sinkhorn_evaluation_loads_no_jit_compiler_with_the_compiled_kernel() -> None:
    code = (
        "import sys, numpy as np\n"
        "from vcbench.metrics.distributions import SamplePair\n"
        "rng = np.random.default_rng(0)\n"
        "value = SamplePair(rng.normal(0, 1, (30, 5)), rng.normal(0.5, 1, (20, 5))).sinkhorn()\n"
        "assert value > 0, value\n"
        "print('numba' in sys.modules, 'llvmlite' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_the_numba_kernel_can_be_forced() -> None:
    code = (
        "from vcbench.metrics import sinkhorn_kernel, sinkhorn_numba\n"
        "assert sinkhorn_kernel.KERNEL == 'numba'\n"
        "assert sinkhorn_kernel.row_logsumexp is sinkhorn_numba.row_logsumexp\n"
    )
    env = {**os.environ, "VCBENCH_SINKHORN_KERNEL": "numba"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    # and is the one used where the compiled module cannot be imported (not built)
    unbuilt = "import sys\nsys.modules['vcbench.metrics._sinkhorn'] = None\n" + code
    subprocess.run([sys.executable, "-c", unbuilt], check=True)
