"""Embedding tables and perturbation features, shared by the linear and the learned models.

- An *embedding table* maps a target name (a gene or compound) to a numeric vector: a DataFrame
  indexed by name, one column per dimension, read from CSV (first column = names) or parquet.
- The *training PCA embedding* of a gene is its row of the top-``K`` principal components of the
  training effect matrix (genes as observations, training conditions as variables): gene ``g`` gets
  ``U_K[g] · S_K`` where ``E_c = U S Vᵀ`` is the SVD of the effect matrix (genes × conditions) with
  each gene's row centred over the conditions.
- A perturbation's embedding is the sum of its targets' embeddings; a target missing from the table
  contributes zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

import numpy as np
import pandas as pd

from vcbench.errors import ModelError

EmbeddingSource = str | Path | pd.DataFrame
FEATURE_KINDS = ("onehot", "embedding", "onehot+embedding")


def load_embedding(source: EmbeddingSource) -> pd.DataFrame:
    """An embedding table from a DataFrame, or a ``.csv``/``.parquet`` file (names in the index or
    the first column), checked: unique names, numeric finite values, at least one column."""
    if isinstance(source, pd.DataFrame):
        table = source.copy()
    else:
        path = Path(source)
        if not path.exists():
            raise ModelError(f"Embedding file {path} does not exist.")
        suffix = path.suffix.lower()
        if suffix == ".csv":
            table = pd.read_csv(path, index_col=0)
        elif suffix in (".parquet", ".pq"):
            table = pd.read_parquet(path)
            if isinstance(table.index, pd.RangeIndex) and table.shape[1] > 1:
                table = table.set_index(table.columns[0])
        else:
            raise ModelError(f"Embedding file {path} must be .csv or .parquet, not {suffix!r}.")
    table.index = table.index.astype(str)
    if table.shape[1] == 0 or table.shape[0] == 0:
        raise ModelError(f"The embedding table is empty (shape {table.shape}).")
    duplicated = table.index[table.index.duplicated()].unique().tolist()
    if duplicated:
        raise ModelError(f"The embedding table names some targets twice: {duplicated[:5]}.")
    non_numeric = [col for col in table.columns if not pd.api.types.is_numeric_dtype(table[col])]
    if non_numeric:
        raise ModelError(f"The embedding table has non-numeric columns: {non_numeric[:5]}.")
    values = table.to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        raise ModelError("The embedding table has NaN or infinite values.")
    return pd.DataFrame(values, index=table.index, columns=[str(col) for col in table.columns])


def pca_gene_embedding(effects: np.ndarray, genes: pd.Index, n_components: int) -> pd.DataFrame:
    """The training PCA embedding of every gene (genes × K) from an effect matrix (conditions ×
    genes); K is ``n_components`` capped at the matrix's rank bound."""
    if n_components < 1:
        raise ModelError(f"n_components must be at least 1, got {n_components}.")
    matrix = np.asarray(effects, dtype=np.float64).T  # genes × conditions
    matrix = matrix - matrix.mean(axis=1, keepdims=True)
    k = min(n_components, *matrix.shape)
    u, s, _ = np.linalg.svd(matrix, full_matrices=False)
    u, s = u[:, :k], s[:k]
    signs = np.sign(u[np.abs(u).argmax(axis=0), np.arange(k)])  # deterministic signs
    signs[signs == 0] = 1.0
    return pd.DataFrame(u * s * signs, index=pd.Index(genes).astype(str))


def embed_targets(targets: list[tuple[str, ...]], table: pd.DataFrame) -> np.ndarray:
    """Row ``i``: the sum of the table rows of ``targets[i]`` (zero for names not in the table)."""
    rows = {name: i for i, name in enumerate(table.index)}
    values = np.vstack([table.to_numpy(), np.zeros((1, table.shape[1]))])  # last row: missing
    out = np.zeros((len(targets), table.shape[1]))
    for i, parts in enumerate(targets):
        index = [rows.get(p, len(rows)) for p in parts]
        out[i] = values[index].sum(axis=0)
    return out


class PerturbationFeatures:
    """Feature vectors of perturbations, learned from the training perturbations.

    - ``onehot``: one indicator per target seen in training (a combination sets the indicators of
      its parts, i.e. the sum of its parts' one-hot vectors); an unseen target adds nothing.
    - ``embedding``: the sum of the targets' rows of an embedding table (``embedding``), or of the
      training PCA embedding with ``n_components`` dimensions when ``embedding`` is ``None``.
    - ``onehot+embedding``: both, concatenated.
    """

    def __init__(
        self,
        kind: Literal["onehot", "embedding", "onehot+embedding"] = "onehot",
        embedding: EmbeddingSource | None = None,
        n_components: int = 10,
    ) -> None:
        if kind not in FEATURE_KINDS:
            raise ModelError(f"Unknown feature kind {kind!r}; choose one of {FEATURE_KINDS}.")
        self.kind = kind
        self.embedding = embedding
        self.n_components = n_components

    def fit(
        self, targets: list[tuple[str, ...]], effects: np.ndarray | None, genes: pd.Index
    ) -> Self:
        """Learn the vocabulary of the training ``targets`` (and the PCA embedding from the training
        ``effects``, conditions × genes, when it is needed)."""
        self.vocabulary_ = sorted({t for parts in targets for t in parts})
        self.table_: pd.DataFrame | None = None
        if self.kind != "onehot":
            if self.embedding is not None:
                self.table_ = load_embedding(self.embedding)
            else:
                if effects is None or len(effects) < 2:
                    raise ModelError(
                        "The training PCA embedding needs the effects of at least 2 training "
                        "conditions; supply an embedding table instead."
                    )
                self.table_ = pca_gene_embedding(effects, genes, self.n_components)
            scale = np.sqrt((self.table_.to_numpy() ** 2).sum(axis=1).mean())
            self.scale_ = float(scale) if scale > 0 else 1.0
        return self

    @property
    def n_features(self) -> int:
        """The length of a feature vector."""
        n = len(self.vocabulary_) if "onehot" in self.kind else 0
        return n + (self.table_.shape[1] if self.table_ is not None else 0)

    def transform(self, targets: list[tuple[str, ...]]) -> np.ndarray:
        """Feature matrix (perturbations × features); embeddings are scaled to unit mean norm."""
        blocks = []
        if "onehot" in self.kind:
            index = {t: i for i, t in enumerate(self.vocabulary_)}
            onehot = np.zeros((len(targets), len(index)))
            for i, parts in enumerate(targets):
                for p in parts:
                    if p in index:
                        onehot[i, index[p]] += 1.0
            blocks.append(onehot)
        if self.table_ is not None:
            blocks.append(embed_targets(targets, self.table_) / self.scale_)
        return np.hstack(blocks)
