"""The memory trims of the distance and pass code give the same bits as the expressions they replace."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import sparse

from vcbench.metrics import distributions as d
from vcbench.metrics.evaluate import _dense, _map_conditions


@pytest.fixture
def cells() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    values = np.log1p(rng.poisson(rng.gamma(0.6, 1.0, 300), (130, 300)).astype(np.float32))
    return values[:70].astype(np.float64), values[70:].astype(np.float64)


def test_row_norms_equal_the_whole_array_sum(cells, monkeypatch) -> None:
    a, _ = cells
    monkeypatch.setattr(d, "NORM_BLOCK_VALUES", 7 * a.shape[1])  # several blocks, a ragged last
    assert np.array_equal(d.row_norms(a), (a * a).sum(axis=1))


def test_squared_distances_equal_the_former_expression(cells) -> None:
    a, b = cells
    former = -2.0 * (a @ b.T)
    former += (a * a).sum(axis=1)[:, None]
    former += (b * b).sum(axis=1)[None, :]
    former = np.clip(former, 0.0, None)
    assert np.array_equal(d.squared_distances(a, b), former)
    assert np.array_equal(d.squared_distances(a, b, d.row_norms(a), d.row_norms(b)), former)


def test_upper_mask_takes_the_pairs_of_triu_indices(cells) -> None:
    a, _ = cells
    sq = d.squared_distances(a, a)
    assert np.array_equal(sq[d._upper(len(a))], sq[np.triu_indices(len(a), 1)])


def test_mmd_equals_the_former_formula(cells) -> None:
    y, x = cells
    pair = d.SamplePair(y, x)
    n, m = len(y), len(x)
    pooled = np.concatenate(
        [pair.sq_yx.ravel(), pair.sq_yy[np.triu_indices(n, 1)], pair.sq_xx[np.triu_indices(m, 1)]]
    )
    scale = -0.5 / float(np.median(pooled))
    former = (
        (np.exp(pair.sq_yy * scale).sum() - n) / (n * (n - 1))
        + (np.exp(pair.sq_xx * scale).sum() - m) / (m * (m - 1))
        - 2.0 * np.exp(pair.sq_yx * scale).mean()
    )
    assert pair.mmd_rbf() == float(former)


def test_dense_of_sparse_float32_equals_toarray_then_float64(cells) -> None:
    a, _ = cells
    block = sparse.csr_matrix(a.astype(np.float32))
    out = _dense(block)
    assert out.dtype == np.float64
    assert np.array_equal(out, block.toarray().astype(np.float64))
    assert np.array_equal(_dense(a.astype(np.float32)), a)


@pytest.mark.parametrize("waiting", [0, 1, 3])
def test_map_conditions_keeps_the_order(waiting) -> None:
    items = list(range(25))
    assert list(_map_conditions(lambda i: i * i, items, waiting)) == [i * i for i in items]


@pytest.mark.parametrize("shift", [0.0, 30.0])  # 30: far from the origin, where cancellation bites
def test_float32_gram_is_within_the_stated_tolerance(cells, shift) -> None:
    rng = np.random.default_rng(5)
    y, x = cells
    y = y + shift + rng.normal(0, 0.05, y.shape)  # a prediction near the truth: small distances
    x = x + shift
    exact, fast = d.SamplePair(y, x), d.SamplePair(y, x, gram="float32")
    tol = d.GRAM_FLOAT32_TOLERANCE
    scale = 2.0 * np.sqrt(exact.sq_yx).mean()
    assert abs(fast.energy_distance() - exact.energy_distance()) <= tol * scale
    assert abs(fast.mmd_rbf() - exact.mmd_rbf()) <= tol
    ot = d.entropic_ot(0.5 * exact.sq_yx, d.BLUR**2)
    assert abs(fast.sinkhorn() - exact.sinkhorn()) <= tol * abs(ot)
    assert fast.energy_distance() != exact.energy_distance()  # the float32 path did run


def test_float32_gram_keeps_its_own_truth_memo_entries(cells) -> None:
    y, x = cells
    seen: dict[str, float] = {}

    def memo(name, compute):
        return seen.setdefault(name, compute())

    d.SamplePair(y, x, truth_memo=memo).energy_distance()
    d.SamplePair(y, x, truth_memo=memo, gram="float32").energy_distance()
    assert set(seen) == {"energy_within_x", "energy_within_x_gram_float32"}
    with pytest.raises(ValueError, match="gram"):
        d.SamplePair(y, x, gram="float16")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metrics", "loads_numba"), [("['energy_distance', 'mmd_rbf']", False), ("['sinkhorn']", True)]
)
def test_numba_loads_only_for_a_sinkhorn_metric(metrics, loads_numba) -> None:
    """The kernel module (numba where the C kernel is not built) is imported by the first OT
    problem, not before."""
    code = (
        "import sys, numpy as np, anndata as ad, pandas as pd\n"
        "from vcbench.data import contract as c\n"
        "from vcbench.metrics import evaluate\n"
        "rng = np.random.default_rng(0)\n"
        "obs = pd.DataFrame({c.CONTEXT: 'k', c.PERTURBATION: ['control'] * 10 + ['A'] * 10})\n"
        "obs[c.IS_CONTROL] = obs[c.PERTURBATION] == 'control'\n"
        "obs.index = [f'c{i}' for i in range(20)]\n"
        "var = pd.DataFrame(index=[f'G{i}' for i in range(6)])\n"
        "truth = ad.AnnData(np.log1p(rng.poisson(2.0, (20, 6))).astype(np.float32), obs, var)\n"
        "prediction = truth[10:].copy()\n"
        "prediction.X = prediction.X + np.float32(0.1)\n"
        f"scores = evaluate(prediction, truth, metrics={metrics})\n"
        "assert scores['value'].notna().all(), scores\n"
        "print('vcbench.metrics.sinkhorn_kernel' in sys.modules)\n"  # anndata may import numba
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(loads_numba)


def test_the_evaluate_path_imports_no_numba() -> None:
    code = "import sys, vcbench.metrics.files; print('numba' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
