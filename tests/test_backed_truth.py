"""A truth read backed (X left in the file, read condition by condition) scores like one in memory."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.stats
from scipy import sparse

import vcbench.data.matrix_checks as checks
import vcbench.metrics.wilcoxon as wilcoxon
from vcbench.data.loader import load_dataset
from vcbench.data.normalization import detect_x_kind
from vcbench.data.rows import RowReader
from vcbench.errors import DataContractError
from vcbench.metrics.definitions import average_ranks
from vcbench.metrics.evaluate import evaluate
from vcbench.metrics.files import evaluate_files, standardise_prediction
from vcbench.metrics.wilcoxon import ControlRanks

KEY, CONTROL = "target_gene", "non-targeting"
PERTURBATIONS = ("G0", "G1", "G2+G3", "G4")


def _counts(rng: np.random.Generator, labels: list[str], genes: int, noise: float) -> np.ndarray:
    effect = {p: rng.gamma(1.0, 1.0, genes) for p in (CONTROL, *PERTURBATIONS)}
    rates = np.array([effect[label] for label in labels]) * 3.0
    return rng.poisson(rates * np.exp(rng.normal(0, noise, rates.shape))).astype(np.float32)


def _log(counts: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=1, keepdims=True).clip(min=1)
    return np.log1p(counts / totals * 1e4).astype(np.float32)


def _write(
    path: Path, x: np.ndarray, labels: list[str], *, as_sparse: bool, cell_type: bool = False
) -> Path:
    obs = pd.DataFrame({KEY: labels}, index=[f"c{i}" for i in range(len(labels))])
    if cell_type:
        obs["cell_type"] = np.where(np.arange(len(labels)) % 2, "a", "b")
    var = pd.DataFrame(index=[f"G{i}" for i in range(x.shape[1])])
    ad.AnnData(sparse.csr_matrix(x) if as_sparse else x, obs, var).write_h5ad(path)
    return path


def _pair(tmp_path: Path, *, as_sparse: bool, counts: bool = False) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    labels = [CONTROL] * 40 + [p for p in PERTURBATIONS for _ in range(30)]
    truth_counts = _counts(rng, labels, 20, 0.0)
    truth_x = truth_counts if counts else _log(truth_counts)
    prediction_x = _log(_counts(rng, labels, 20, 0.3))
    return (
        _write(tmp_path / "truth.h5ad", truth_x, labels, as_sparse=as_sparse, cell_type=True),
        _write(tmp_path / "prediction.h5ad", prediction_x, labels, as_sparse=as_sparse),
    )


def _scores(prediction_path: Path, truth: ad.AnnData) -> pd.DataFrame:
    prediction = ad.read_h5ad(prediction_path)
    standardise_prediction(prediction, KEY, None, CONTROL)
    return evaluate(prediction, truth, metrics="full", max_cells=20, n_pcs=5)


@pytest.mark.parametrize("as_sparse", [False, True])
def test_backed_truth_scores_bit_identical(tmp_path: Path, as_sparse: bool) -> None:
    truth_path, prediction_path = _pair(tmp_path, as_sparse=as_sparse)
    in_memory = load_dataset(truth_path, KEY, None, CONTROL, harmonize_targets=False)
    backed = load_dataset(truth_path, KEY, None, CONTROL, backed=True, harmonize_targets=False)
    assert backed.isbacked and not in_memory.isbacked
    pd.testing.assert_frame_equal(backed.obs, in_memory.obs)
    expected = _scores(prediction_path, in_memory)
    assert expected["value"].notna().sum() > 100  # the cell-level metrics ran
    pd.testing.assert_frame_equal(_scores(prediction_path, backed), expected, check_exact=True)
    files = evaluate_files(
        prediction_path,
        truth_path,
        perturbation_key=KEY,
        control=CONTROL,
        max_cells=20,
        backed=True,
        n_boot=10,
    )
    full = evaluate(
        standardise_prediction(ad.read_h5ad(prediction_path), KEY, None, CONTROL),
        in_memory,
        metrics="full",
        max_cells=20,
    )
    pd.testing.assert_frame_equal(files.scores, full, check_exact=True)


def test_backed_counts_are_normalised_in_memory(tmp_path: Path) -> None:
    truth_path, _ = _pair(tmp_path, as_sparse=True, counts=True)
    backed = load_dataset(
        truth_path, KEY, "cell_type", CONTROL, backed=True, harmonize_targets=False
    )
    in_memory = load_dataset(truth_path, KEY, "cell_type", CONTROL, harmonize_targets=False)
    assert not backed.isbacked and backed.uns["vcbench"]["input_x"] == "counts"
    assert (backed.X != in_memory.X).nnz == 0
    assert (
        "target_genes"
        not in load_dataset(truth_path, KEY, None, CONTROL, harmonize_targets=False).uns["vcbench"]
    )


def test_backed_refuses_layer_and_anndata(tmp_path: Path) -> None:
    truth_path, _ = _pair(tmp_path, as_sparse=True)
    with pytest.raises(DataContractError, match=r"backed=True reads X from an \.h5ad path"):
        load_dataset(truth_path, KEY, None, CONTROL, backed=True, layer="counts")
    with pytest.raises(DataContractError, match=r"backed=True reads X from an \.h5ad path"):
        load_dataset(
            ad.read_h5ad(truth_path), KEY, None, CONTROL, backed=True, harmonize_targets=False
        )


@pytest.mark.parametrize("as_sparse", [False, True])
def test_backed_chunks_are_the_stored_values(
    tmp_path: Path, as_sparse: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks, "CHUNK_VALUES", 7)  # many chunks, a ragged last one
    truth_path, _ = _pair(tmp_path, as_sparse=as_sparse)
    memory, backed = ad.read_h5ad(truth_path), ad.read_h5ad(truth_path, backed="r")
    chunks = list(checks.value_chunks(backed.X))
    assert len(chunks) > 1 and max(chunk.size for chunk in chunks) <= max(7, backed.n_vars)
    np.testing.assert_array_equal(np.concatenate(chunks), checks.stored_values(memory.X))
    assert detect_x_kind(backed.X) == "log"
    bad = memory.X.copy()
    if as_sparse:
        bad.data[-1] = -1.0  # in the last chunk
    else:
        bad[-1, -1] = -1.0
    _write(
        tmp_path / "bad.h5ad",
        bad.toarray() if as_sparse else bad,
        list(memory.obs[KEY]),
        as_sparse=as_sparse,
    )
    with pytest.raises(DataContractError, match="1 negative values"):
        load_dataset(
            tmp_path / "bad.h5ad", KEY, None, CONTROL, backed=True, harmonize_targets=False
        )


def test_average_ranks_equal_scipy() -> None:
    rng = np.random.default_rng(1)
    for values in (
        rng.normal(size=(30, 200)),
        rng.integers(0, 4, (30, 50)).astype(float),  # many ties
        np.array([[1.0, np.nan, 2.0], [np.inf, -np.inf, np.inf], [3.0, 3.0, 3.0]]),
        np.empty((2, 0)),
    ):
        np.testing.assert_array_equal(average_ranks(values), scipy.stats.rankdata(values, axis=1))


def test_wilcoxon_gene_blocks_give_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    controls = np.round(rng.gamma(1.0, 1.0, (60, 23)), 1)  # ties within and across the samples
    cells = np.round(rng.gamma(1.2, 1.0, (45, 23)), 1)
    whole = ControlRanks(controls).u_statistic_and_pvalue(cells)
    monkeypatch.setattr(wilcoxon, "_BLOCK_VALUES", 100)  # blocks of 2 genes, a ragged last one
    blocked = ControlRanks(controls).u_statistic_and_pvalue(cells)
    for a, b in zip(whole, blocked, strict=True):
        np.testing.assert_array_equal(a, b)
    expected = scipy.stats.mannwhitneyu(cells, controls, method="asymptotic", axis=0)
    np.testing.assert_allclose(blocked[0], expected.statistic, rtol=0, atol=0)
    np.testing.assert_allclose(blocked[1], expected.pvalue, rtol=1e-12)


@pytest.mark.parametrize("as_sparse", [False, True])
def test_row_reader_equals_indexing(tmp_path: Path, as_sparse: bool) -> None:
    truth_path, _ = _pair(tmp_path, as_sparse=as_sparse)
    memory, backed = ad.read_h5ad(truth_path), ad.read_h5ad(truth_path, backed="r")
    rng = np.random.default_rng(3)
    n = memory.n_obs
    cases = [
        np.arange(40, 70),  # one condition: one contiguous range
        np.sort(rng.choice(n, 50, replace=False)),  # a wide span: one read per run
        np.sort(rng.choice(np.arange(10, 60), 20, replace=False)),  # a narrow span, subselected
        np.array([0, 1, 2, n - 2, n - 1]),
        np.array([], dtype=np.int64),
    ]
    for adata in (memory, backed):
        reader = RowReader(adata)
        for index in cases:
            got = reader.rows(index)
            expected = memory.X[index]
            if as_sparse:
                assert sparse.issparse(got) and got.dtype == expected.dtype
                got, expected = got.toarray(), expected.toarray()
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("cells_exact32", [True, False])
def test_wilcoxon_table_of_distinct_control_values_equals_scipy(cells_exact32: bool) -> None:
    rng = np.random.default_rng(4)
    # float32 log-normalised-like values, many zeros and repeated values (integer-key path)
    controls = np.log1p(rng.poisson(0.8, (70, 31))).astype(np.float32).astype(np.float64)
    cells = np.log1p(rng.poisson(1.1, (40, 31))).astype(np.float32).astype(np.float64)
    if not cells_exact32:  # not float32 values: the table's keys become (gene, value) complex keys
        cells = cells + 1e-12 * (cells > 0)
    ranks = ControlRanks(controls)
    assert ranks._values.size < controls.size  # the table holds each distinct value once
    u, p = ranks.u_statistic_and_pvalue(cells)
    expected = scipy.stats.mannwhitneyu(cells, controls, method="asymptotic", axis=0)
    np.testing.assert_array_equal(u, expected.statistic)
    np.testing.assert_allclose(p, expected.pvalue, rtol=1e-12)


def test_pass_one_on_the_pool_gives_the_same_bits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    import vcbench.threads as threads

    evaluate_module = importlib.import_module("vcbench.metrics.evaluate")  # not the function

    truth_path, prediction_path = _pair(tmp_path, as_sparse=True)
    truth = load_dataset(truth_path, KEY, None, CONTROL, backed=True, harmonize_targets=False)
    monkeypatch.setattr(threads, "_budget", 2)  # a pool of 2 threads, whatever the machine
    pooled = _scores(prediction_path, truth)
    monkeypatch.setattr(evaluate_module, "PASS1_POOL_BYTES", 0)  # pass 1 serial
    pd.testing.assert_frame_equal(_scores(prediction_path, truth), pooled, check_exact=True)
