"""Shared test helpers: tiny hand-made datasets and the location of the real shared data."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """A file under ../shared/data, or a clean skip when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"shared data file not available: {path}")
    return path


def make_raw(
    labels: list[str] | None = None,
    contexts: list[str] | None = None,
    n_genes: int = 6,
    counts: bool = True,
    seed: int = 0,
) -> ad.AnnData:
    """A small raw AnnData with obs 'condition' and 'cell_type' (counts or log values)."""
    labels = labels or ["control"] * 4 + ["A"] * 3 + ["B"] * 3 + ["A+B"] * 3
    contexts = contexts or ["k1"] * len(labels)
    rng = np.random.default_rng(seed)
    x = rng.poisson(3.0, size=(len(labels), n_genes)).astype(np.float32) + 1
    if not counts:
        x = np.log1p(x / x.sum(axis=1, keepdims=True) * 1e4).astype(np.float32)
    obs = pd.DataFrame(
        {"condition": labels, "cell_type": contexts}, index=[f"cell{i}" for i in range(len(labels))]
    )
    var = pd.DataFrame(index=[f"g{j}" for j in range(n_genes)])
    return ad.AnnData(X=sparse.csr_matrix(x), obs=obs, var=var)
