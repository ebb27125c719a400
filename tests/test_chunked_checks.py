"""The matrix checks and the count detection read X in chunks and keep their verdicts."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

import vcbench.data.matrix_checks as checks
from vcbench.data.normalization import detect_x_kind
from vcbench.errors import DataContractError


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "CHUNK_VALUES", 7)  # many chunks, a ragged last one


@pytest.mark.parametrize("as_sparse", [False, True])
def test_chunked_verdicts(as_sparse: bool) -> None:
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.0, (13, 11)).astype(np.float32)
    wrap = sparse.csr_matrix if as_sparse else np.asarray
    assert detect_x_kind(wrap(counts)) == "counts"
    log = np.log1p(counts)
    assert detect_x_kind(wrap(log)) == "log"
    last_only = counts.copy()
    last_only[-1, -1] = 0.5  # the one non-integer sits in the last chunk
    assert detect_x_kind(wrap(last_only)) == "log"
    scaled = counts * 40  # values far above any log1p value, one non-integer in the last chunk
    scaled[-1, -1] = 0.5
    with pytest.raises(DataContractError, match="not log-transformed"):
        detect_x_kind(wrap(scaled))
    bad = log.copy()
    bad[12, 3], bad[0, 1], bad[6, 6] = np.nan, -2.5, -0.5
    with pytest.raises(DataContractError, match="1 NaN and 0 infinite"):
        checks.check_finite_non_negative(ad.AnnData(wrap(bad)))
    bad[12, 3] = 1.0
    with pytest.raises(DataContractError, match=r"2 negative values \(minimum -2.5\)"):
        checks.check_finite_non_negative(ad.AnnData(wrap(bad)))
    with pytest.raises(DataContractError, match="only zeros"):
        checks.check_not_empty(ad.AnnData(wrap(np.zeros((13, 11), np.float32))))
    checks.check_not_empty(ad.AnnData(wrap(last_only)))
