"""``open_h5ad`` (h5py alone) reads obs, var, X and uns entries as anndata does, or declines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from vcbench.data import contract as c
from vcbench.data.h5ad_file import CSRFile, H5adFile, open_h5ad
from vcbench.data.loader import load_dataset, read_h5ad_light
from vcbench.data.rows import RowReader
from vcbench.errors import DatasetFileError


def _adata(
    n: int = 60, genes: int = 7, *, as_sparse: bool = True, missing: bool = True
) -> ad.AnnData:
    rng = np.random.default_rng(3)
    x = rng.poisson(0.7, (n, genes)).astype(np.float32)
    x[5] = 0.0  # an empty row
    obs = pd.DataFrame(
        {
            "condition": pd.Categorical(rng.choice(["control", "A", "B+C"], n)),
            "cell_type": rng.choice(["t", "b"], n).astype(object),  # a string column
            "dose": pd.Categorical(rng.choice([0.1, 1.0, 10.0], n)),  # numeric categories
            "ordered": pd.Categorical(rng.choice(["lo", "hi"], n), ["lo", "hi"], ordered=True),
            "n_counts": rng.integers(0, 100, n),
            "score": rng.normal(size=n),
            "flag": rng.random(n) < 0.5,
            "maybe_int": pd.array([None if i % 7 == 0 else i for i in range(n)], dtype="Int64"),
            "maybe_bool": pd.array(
                [None if i % 5 == 0 else i % 2 == 0 for i in range(n)], "boolean"
            ),
        },
        index=pd.Index([f"cell{i}" for i in range(n)], name="barcode"),
    )
    if missing:
        obs.loc[obs.index[:3], "condition"] = np.nan  # missing categories (code -1)
    var = pd.DataFrame(
        {"symbol": [f"S{i}" for i in range(genes)]}, index=[f"G{i}" for i in range(genes)]
    )
    adata = ad.AnnData(sparse.csr_matrix(x) if as_sparse else x, obs, var)
    adata.uns[c.PREDICTION_KEY] = {"level": "mean"}
    adata.uns["other"] = {"nested": np.arange(3)}
    return adata


@pytest.mark.parametrize("as_sparse", [True, False])
def test_obs_var_and_x_equal_anndata(tmp_path: Path, as_sparse: bool) -> None:
    path = tmp_path / "x.h5ad"
    _adata(as_sparse=as_sparse).write_h5ad(path)
    reference = ad.read_h5ad(path)
    light = open_h5ad(path, uns_keys=[c.PREDICTION_KEY, "absent"])
    assert isinstance(light, H5adFile) and light.isbacked
    pd.testing.assert_frame_equal(light.obs, reference.obs, check_exact=True)
    pd.testing.assert_frame_equal(light.var, reference.var, check_exact=True)
    assert light.shape == reference.shape and light.n_obs == 60 and light.n_vars == 7
    assert light.uns == {c.PREDICTION_KEY: {"level": "mean"}}  # only the entries asked for
    assert isinstance(light.X, CSRFile if as_sparse else h5py.Dataset)
    dense = reference.X.toarray() if as_sparse else reference.X
    reader = RowReader(light)
    for rows in (
        np.arange(60),
        np.array([0, 1, 2, 40]),
        np.array([5]),
        np.array([59]),
        np.arange(0),
    ):
        block = reader.rows(rows)
        block = block.toarray() if sparse.issparse(block) else block
        np.testing.assert_array_equal(block, dense[rows])
    if as_sparse:
        np.testing.assert_array_equal(light.X[10:20].toarray(), dense[10:20])
        np.testing.assert_array_equal(light.X[np.array([3, 30, 59])].toarray(), dense[[3, 30, 59]])
    in_memory = open_h5ad(path, backed=False)
    assert in_memory is not None and not in_memory.isbacked
    loaded = in_memory.X.toarray() if as_sparse else in_memory.X
    np.testing.assert_array_equal(loaded, dense)


def test_other_layouts_are_declined_and_read_by_anndata(tmp_path: Path) -> None:
    adata = _adata(missing=False)
    adata.X = sparse.csr_matrix(np.log1p(adata.X.toarray() * 1.3).astype(np.float32))
    csc = adata.copy()
    csc.X = sparse.csc_matrix(csc.X)
    csc.write_h5ad(tmp_path / "csc.h5ad")
    adata.write_h5ad(tmp_path / "odd.h5ad")
    with h5py.File(tmp_path / "odd.h5ad", "r+") as file:  # no root encoding: an older writer
        for name in list(file.attrs):
            del file.attrs[name]
    for name in ("csc.h5ad", "odd.h5ad"):
        assert open_h5ad(tmp_path / name) is None
        fallback = read_h5ad_light(tmp_path / name)
        assert isinstance(fallback, ad.AnnData) and fallback.isbacked
    truth = load_dataset(tmp_path / "csc.h5ad", "condition", None, backed=True)
    assert isinstance(truth, ad.AnnData) and truth.obs[c.IS_CONTROL].any()


def test_unreadable_files_give_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "text.h5ad").write_text("not hdf5")
    with pytest.raises(DatasetFileError, match=r"could not be read as an \.h5ad"):
        read_h5ad_light(tmp_path / "text.h5ad")
    with pytest.raises(DatasetFileError, match="Dataset file not found"):
        read_h5ad_light(tmp_path / "missing.h5ad")


def test_load_dataset_backed_is_light_and_equals_anndata(tmp_path: Path) -> None:
    path = tmp_path / "truth.h5ad"
    adata = _adata(missing=False)
    adata.X = sparse.csr_matrix(np.log1p(adata.X.toarray() * 1.3).astype(np.float32))
    adata.write_h5ad(path)
    light = load_dataset(path, "condition", "cell_type", backed=True, harmonize_targets=False)
    assert isinstance(light, H5adFile)
    memory = load_dataset(path, "condition", "cell_type", harmonize_targets=False)
    pd.testing.assert_frame_equal(light.obs, memory.obs, check_exact=True)
    assert light.uns[c.UNS_KEY].keys() == memory.uns[c.UNS_KEY].keys()


def test_prediction_key_is_the_models_one() -> None:
    from vcbench.models.base import PREDICTION_KEY

    assert PREDICTION_KEY is c.PREDICTION_KEY  # one definition


def test_evaluate_files_imports_no_anndata(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = ["control"] * 20 + ["A"] * 15 + ["B"] * 15
    obs = pd.DataFrame({"condition": labels}, index=[f"c{i}" for i in range(50)])
    var = pd.DataFrame(index=[f"G{i}" for i in range(12)])
    for name, noise in (("truth", 0.0), ("prediction", 0.3)):
        x = np.log1p(rng.poisson(2.0 + noise, (50, 12))).astype(np.float32)
        ad.AnnData(sparse.csr_matrix(x), obs, var).write_h5ad(tmp_path / f"{name}.h5ad")
    code = (
        "import sys\n"
        "from vcbench.metrics.files import evaluate_files\n"
        f"r = evaluate_files({str(tmp_path / 'prediction.h5ad')!r}, {str(tmp_path / 'truth.h5ad')!r},"
        " metrics='full', max_cells=10, n_boot=10, backed=True)\n"
        "assert r.scores['value'].notna().sum() > 20, r.scores\n"
        "print(sorted(m for m in ('anndata', 'dask', 'zarr', 'xarray') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
