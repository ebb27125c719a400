"""The GO embedding: a dense vector per human gene from its Gene Ontology annotations.

Definition (``GO_EMBEDDING_VERSION``), with ``A`` the binary gene × GO-term matrix of the shipped
annotations (BP, MF and CC; ``annotations.gene_term_matrix``), over the ``N`` genes with at least
one term:

1. propagation (default on): a gene is also annotated to every ancestor of its direct terms along
   ``is_a`` and ``part_of`` (GO's true-path rule), so two genes annotated to sibling terms share
   their parent;
2. IDF weighting: ``X[g, t] = A[g, t] · log(N / n_t)``, with ``n_t`` the genes annotated to ``t``
   (a term every gene has weighs 0, a rare term the most); each row is then scaled to unit length;
3. truncated SVD: ``X ≈ U_K S_K V_Kᵀ`` (``K = 64`` by default; a randomized SVD, seed 0, 3 power
   iterations, ``svd_embedding``, single-threaded BLAS so that the bits do not depend on the thread
   count), and gene ``g``'s embedding is row ``g`` of ``U_K S_K`` (the
   coordinates of its unit row in the top-``K`` term directions; norm at most 1). Each column's
   sign is fixed so that its largest-magnitude entry is positive.

Genes with similar GO annotations get nearby vectors; a gene without GO annotations has none (it
is not in the table). The result is cached: in memory for the process, and on disk (one ``.npz`` per
version and parameters) under ``$VCBENCH_CACHE_DIR`` or the user cache folder, written atomically.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from vcbench.knowledge.annotations import ANNOTATION_VERSION, ONTOLOGIES, gene_term_matrix
from vcbench.threads import single_threaded_blas

GO_EMBEDDING_VERSION = "go-idf-svd-3"
DEFAULT_DIMENSIONS = 64
CACHE_ENV = "VCBENCH_CACHE_DIR"


def idf_weighted_rows(member: sp.csr_matrix) -> sp.csr_matrix:
    """``X[g, t] = A[g, t] · log(N / n_t)`` with unit-length rows (rows of weight 0 stay 0)."""
    n_genes = member.shape[0]
    per_term = np.asarray(member.sum(axis=0)).ravel()
    idf = np.log(n_genes / np.maximum(per_term, 1.0))
    weighted = (member @ sp.diags(idf)).tocsr()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return (sp.diags(scale) @ weighted).tocsr()


def _orthonormal(y: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the columns of ``y`` (tall): ``y V Λ^-½`` from the eigenvectors of
    ``yᵀy`` (a small symmetric eigenproblem instead of a tall QR), applied twice for accuracy."""
    for _ in range(2):
        values, vectors = np.linalg.eigh(y.T @ y)
        keep = values > values.max() * 1e-12
        y = y @ (vectors[:, keep] / np.sqrt(values[keep]))
    return y


def svd_embedding(
    x: sp.csr_matrix, dimensions: int, oversample: int = 16, n_iter: int = 3
) -> np.ndarray:
    """Rows of ``U_K S_K`` of the truncated SVD of ``x`` (Halko et al.'s randomized range finder:
    ``n_iter`` power iterations on ``dimensions + oversample`` Gaussian probes drawn with seed 0,
    then the exact SVD of the small projected matrix), each column's sign fixed so that its
    largest-magnitude entry is positive."""
    k = min(dimensions, min(x.shape) - 1)
    width = min(k + oversample, min(x.shape))
    xt = x.T.tocsr()
    q = _orthonormal(x @ np.random.default_rng(0).normal(size=(x.shape[1], width)))
    for _ in range(n_iter):
        q = _orthonormal(x @ _orthonormal(xt @ q))
    b = (xt @ q).T  # width × terms: Qᵀ X
    values, vectors = np.linalg.eigh(b @ b.T)  # B Bᵀ = U_B S² U_Bᵀ
    order = np.argsort(values)[::-1][:k]
    coords = q @ vectors[:, order] * np.sqrt(np.clip(values[order], 0.0, None))
    signs = np.sign(coords[np.abs(coords).argmax(axis=0), np.arange(k)])
    signs[signs == 0] = 1.0
    return coords * signs


def knowledge_cache_file(stem: str, key: str) -> Path | None:
    """The cache file ``knowledge/STEM_DIGEST.npz`` of a computed representation (``key`` names
    its version and parameters) under ``$VCBENCH_CACHE_DIR`` or the user cache folder; None when
    there is no usable cache folder."""
    root = os.environ.get(CACHE_ENV)
    if root is None:
        try:
            import pooch

            root = str(pooch.os_cache("vcbench"))
        except Exception:  # no usable cache folder: compute in memory only
            return None
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(root) / "knowledge" / f"{stem}_{digest}.npz"


def _cache_file(dimensions: int, propagate: bool, ontologies: tuple[str, ...]) -> Path | None:
    key = f"{GO_EMBEDDING_VERSION}|{ANNOTATION_VERSION}|{dimensions}|{propagate}|{ontologies}"
    return knowledge_cache_file("go_embedding", key)


def _read(path: Path | None) -> pd.DataFrame | None:
    if path is None or not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return pd.DataFrame(stored["values"], index=pd.Index(stored["genes"], name="gene"))
    except Exception:  # a damaged cache file is recomputed
        return None


def _write(path: Path | None, table: pd.DataFrame) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as handle:
            np.savez(handle, values=table.to_numpy(), genes=table.index.to_numpy(dtype=str))
        os.replace(handle.name, path)
    except OSError as exc:
        warnings.warn(
            f"the GO embedding could not be cached at {path} ({exc}); it will be recomputed in "
            f"each process. Set {CACHE_ENV} to a writable folder.",
            UserWarning,
            stacklevel=3,
        )


@cache
def go_embedding(
    dimensions: int = DEFAULT_DIMENSIONS,
    propagate: bool = True,
    ontologies: tuple[str, ...] = ONTOLOGIES,
) -> pd.DataFrame:
    """The GO embedding (module docstring): genes (current symbols) × ``dimensions`` columns."""
    path = _cache_file(dimensions, propagate, tuple(ontologies))
    table = _read(path)
    if table is None:
        genes, _, member = gene_term_matrix(tuple(ontologies), propagate)
        with single_threaded_blas():  # the same bits whatever the thread count (it is cached)
            values = svd_embedding(idf_weighted_rows(member), dimensions)
        table = pd.DataFrame(values, index=genes)
        _write(path, table)
    table.columns = [f"go{i}" for i in range(table.shape[1])]
    return table
