"""The perturbation featuriser: the one place that turns a perturbation's targets into a vector.

Every model that embeds perturbations (``linear``, ``genepert``, the torch and deep models) uses
``PerturbationFeatures``. A perturbation's targets are genes or compounds; a combination's vector is
the sum of its parts' vectors (models that combine parts differently do so on top of this).

Feature kinds (``kind``):

- ``onehot``: one indicator per target seen in training; an unseen target adds nothing.
- ``embedding``: the targets' representation (below).
- ``onehot+embedding``: both, concatenated.

Representation sources (``embedding``):

- ``None`` or ``"auto"`` (default), per target, the first that applies: a compound with a SMILES
  (``smiles=``, or recorded by the loader from an obs ``smiles`` column) → its Morgan fingerprint
  (``compounds``; needs RDKit); a name that resolves to a human gene (``harmonize``) with GO
  annotations → its GO embedding (``go_embedding``); a measured gene → its training PCA embedding
  (``pca_gene_embedding``; needs the training effects); otherwise nothing.
- ``"go"``, ``"fingerprint"`` or ``"pca"``: that source only; ``"onehot"``: none (with
  ``kind="embedding"`` every training target gets its one-hot fallback indicator).
- a table (DataFrame, ``.csv``, ``.parquet`` or the seed paper's ``.pt`` dict; ``tables``): the
  target's row, looked up by its name, else by its harmonised gene symbol.

Each source is one block of columns (present only when some training target uses it); a target
has non-zero entries in its own block only. With ``scale=True`` each block is divided by the mean
norm of its table's rows (unit mean norm). With ``kind="embedding"`` a *training* target that has no
representation gets a one-hot fallback indicator (a last block), with a warning naming it; an
*unseen* target without one gets the zero vector and a warning naming it. ``coverage`` says which
perturbations have a representation. The ``"pca"`` source keeps vcbench's earlier behaviour exactly
(no fallback block).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Literal, Self

import numpy as np
import pandas as pd

from vcbench.errors import KnowledgeError, ModelError
from vcbench.knowledge.compounds import morgan_fingerprints
from vcbench.knowledge.go_embedding import DEFAULT_DIMENSIONS, go_embedding
from vcbench.knowledge.harmonize import gene_symbol
from vcbench.knowledge.tables import EmbeddingSource, load_embedding

FEATURE_KINDS = ("onehot", "embedding", "onehot+embedding")
NAMED_SOURCES = ("auto", "go", "fingerprint", "pca", "onehot")
SHOWN = 5
FeatureKind = Literal["onehot", "embedding", "onehot+embedding"]


def pca_gene_embedding(effects: np.ndarray, genes: pd.Index, n_components: int) -> pd.DataFrame:
    """The training PCA embedding of every gene (genes × K) from an effect matrix (conditions ×
    genes): gene ``g`` gets ``U_K[g] · S_K`` where ``E_c = U S Vᵀ`` is the SVD of the effect matrix
    (genes × conditions) with each gene's row centred over the conditions; ``K`` is
    ``n_components`` capped at the matrix's rank bound."""
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


def embed_targets(targets: Sequence[tuple[str, ...]], table: pd.DataFrame) -> np.ndarray:
    """Row ``i``: the sum of the table rows of ``targets[i]`` (zero for names not in the table)."""
    rows = {name: i for i, name in enumerate(table.index)}
    values = np.vstack([table.to_numpy(), np.zeros((1, table.shape[1]))])  # last row: missing
    out = np.zeros((len(targets), table.shape[1]))
    for i, parts in enumerate(targets):
        index = [rows.get(p, len(rows)) for p in parts]
        out[i] = values[index].sum(axis=0)
    return out


def _sum_rows(table: pd.DataFrame, rows: Sequence[Sequence[str]]) -> np.ndarray:
    """Row ``i``: the sum of the table rows named ``rows[i]`` (each name is in the table)."""
    flat = [name for names in rows for name in names]
    owner = np.repeat(np.arange(len(rows)), [len(names) for names in rows])
    out = np.zeros((len(rows), table.shape[1]))
    if flat:
        np.add.at(out, owner, table.to_numpy()[table.index.get_indexer(flat)])
    return out


def _summary(names: Sequence[str]) -> str:
    names = sorted(names)
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return f"{len(names)} ({', '.join(names[:SHOWN])}{more})"


def represents_unseen_targets(kind: str, embedding: object) -> bool:
    """Whether features of ``kind`` from ``embedding`` can represent a target absent from the
    training data: False for one-hot features only (``kind="onehot"`` or the ``"onehot"``
    source), whose indicators exist for training targets alone."""
    return kind != "onehot" and not (isinstance(embedding, str) and embedding == "onehot")


class PerturbationFeatures:
    """Feature vectors of perturbations, learned from the training perturbations (module
    docstring).

    Args:
        kind: ``onehot``, ``embedding`` or ``onehot+embedding``.
        embedding: the representation source: None/``"auto"``, ``"go"``, ``"fingerprint"``,
            ``"pca"``, or a table.
        n_components: dimensions of the training PCA embedding.
        scale: divide each block by the mean norm of its table's rows.
        go_dimensions: dimensions of the GO embedding.
        smiles: compound → SMILES (added to those recorded in the data).
    """

    def __init__(
        self,
        kind: FeatureKind = "onehot",
        embedding: EmbeddingSource | None = None,
        n_components: int = 10,
        *,
        scale: bool = True,
        go_dimensions: int = DEFAULT_DIMENSIONS,
        smiles: Mapping[str, str] | None = None,
    ) -> None:
        if kind not in FEATURE_KINDS:
            raise ModelError(f"Unknown feature kind {kind!r}; choose one of {FEATURE_KINDS}.")
        if isinstance(embedding, str) and embedding.lower() in NAMED_SOURCES:
            embedding = embedding.lower()
        self.kind = kind
        self.embedding = embedding
        self.n_components = n_components
        self.scale = scale
        self.go_dimensions = go_dimensions
        self.smiles = smiles

    # -- fitting --------------------------------------------------------------------------------

    def _source_name(self) -> str:
        if self.embedding is None:
            return "auto"
        if isinstance(self.embedding, str) and self.embedding in NAMED_SOURCES:
            return self.embedding
        return "table"

    def _fingerprints(self, names: Sequence[str], smiles: Mapping[str, str]) -> pd.DataFrame | None:
        known = {n: smiles[n] for n in names if n in smiles}
        if not known:
            return None
        try:
            return morgan_fingerprints(known)
        except KnowledgeError as exc:
            if self._source_name() == "fingerprint" or "RDKit cannot parse" in str(exc):
                raise
            warnings.warn(f"{exc} Compounds fall back to one-hot.", UserWarning, stacklevel=4)
            return None

    def fit(
        self,
        targets: Sequence[tuple[str, ...]],
        effects: np.ndarray | None,
        genes: pd.Index,
        *,
        smiles: Mapping[str, str] | None = None,
    ) -> Self:
        """Learn the vocabulary of the training ``targets`` and the representation blocks
        (``effects``: training conditions × ``genes``, for the PCA source)."""
        self.vocabulary_ = sorted({t for parts in targets for t in parts})
        self.smiles_ = {**(smiles or {}), **(self.smiles or {})}
        source = self._source_name()
        self.blocks_: list[tuple[str, pd.DataFrame, float]] = []  # (source, table, scale)
        self.source_of_: dict[str, str] = {}  # target → the block that represents it
        self._warned: set[str] = set()
        self.fallback_: list[str] = []  # training targets with a one-hot fallback indicator
        if self.kind == "onehot":
            return self
        if source == "pca":  # the earlier behaviour, exactly
            self._add_block("pca", self._pca(effects, genes, required=True))
            self.fallback_ = []
            return self
        if source == "table":
            table = load_embedding(self.embedding)
            self._add_block("table", table)
            resolvable = [t for t in self.vocabulary_ if self._row_name(t) is not None]
            if not resolvable:
                raise KnowledgeError(
                    f"No training perturbation has a target in the embedding table "
                    f"({table.shape[0]} names, e.g. {table.index[:3].tolist()}; the targets are "
                    f"e.g. {self.vocabulary_[:3]}); check that the table is indexed by target "
                    "names or gene symbols."
                )
        else:
            if source in ("auto", "fingerprint"):
                fingerprints = self._fingerprints(sorted(self.smiles_), self.smiles_)
                if fingerprints is not None:
                    self._add_block("fingerprint", fingerprints)
            if source in ("auto", "go"):
                self._add_block("go", go_embedding(self.go_dimensions))
            if source == "auto" and effects is not None and len(effects) >= 2:
                self._add_block("pca", self._pca(effects, genes, required=False))
        self.blocks_ = [
            b for b in self.blocks_ if any(self._block_row(b, t) for t in self.vocabulary_)
        ]
        for target in self.vocabulary_:
            for name, table, _ in self.blocks_:
                if self._block_row((name, table, 0.0), target):
                    self.source_of_[target] = name
                    break
        self.fallback_ = [t for t in self.vocabulary_ if t not in self.source_of_]
        if self.fallback_:
            how = (
                "a one-hot indicator"
                if self.kind == "embedding"
                else "only their one-hot indicator"
            )
            warnings.warn(
                f"{_summary(self.fallback_)} training targets have no representation ({source} "
                f"embedding; no GO-annotated human gene, no SMILES, no table row): they get {how}.",
                UserWarning,
                stacklevel=3,
            )
            self._warned.update(self.fallback_)
        if self.kind == "onehot+embedding":
            self.fallback_ = []  # the one-hot block already holds them
        return self

    def _pca(self, effects: np.ndarray | None, genes: pd.Index, required: bool) -> pd.DataFrame:
        if effects is None or len(effects) < 2:
            raise ModelError(
                "The training PCA embedding needs the effects of at least 2 training conditions; "
                "supply an embedding table instead."
            )
        return pca_gene_embedding(effects, genes, self.n_components)

    def _add_block(self, name: str, table: pd.DataFrame) -> None:
        scale = 1.0
        if self.scale:
            norm = float(np.sqrt((table.to_numpy() ** 2).sum(axis=1).mean()))
            scale = norm if norm > 0 else 1.0
        self.blocks_.append((name, table, scale))

    def _row_name(self, target: str) -> str | None:
        """The table row of ``target`` (a ``table`` source): its name, else its gene symbol."""
        table = self.blocks_[0][1]
        if target in table.index:
            return target
        symbol = gene_symbol(target)
        return symbol if symbol is not None and symbol in table.index else None

    def _block_row(self, block: tuple[str, pd.DataFrame, float], target: str) -> str | None:
        """The row of ``block`` that represents ``target`` (None when it does not)."""
        name, table, _ = block
        if name == "fingerprint":
            return target if target in table.index else None
        if name == "pca":
            return target if target in table.index else None
        if name == "table":
            return self._row_name(target)
        if target in self.smiles_:  # a compound is never read as a gene
            return None
        symbol = gene_symbol(target)
        return symbol if symbol is not None and symbol in table.index else None

    # -- transforming ---------------------------------------------------------------------------

    @property
    def n_features(self) -> int:
        """The length of a feature vector."""
        n = len(self.vocabulary_) if "onehot" in self.kind else 0
        return n + sum(t.shape[1] for _, t, _ in self.blocks_) + len(self.fallback_)

    def _source(self, target: str) -> str | None:
        if target in self.source_of_:
            return self.source_of_[target]
        for block in self.blocks_:
            if self._block_row(block, target):
                self.source_of_[target] = block[0]
                return block[0]
        return None

    def has_representation(self, target: str) -> bool:
        """Whether ``target`` has a representation other than a one-hot indicator."""
        return self.kind != "onehot" and self._source(target) is not None

    def represented(self, target: str) -> bool:
        """Whether ``target`` has a representation (one-hot counts only for training targets)."""
        if self.kind == "onehot":
            return target in self.vocabulary_
        return self._source(target) is not None or target in self.fallback_

    def coverage(self, perturbations: Sequence[tuple[str, ...]]) -> np.ndarray:
        """For each perturbation (its targets), whether every target has a representation."""
        return np.array([all(self.represented(t) for t in parts) for parts in perturbations])

    def transform(self, targets: Sequence[tuple[str, ...]]) -> np.ndarray:
        """Feature matrix (perturbations × ``n_features``)."""
        blocks = []
        if "onehot" in self.kind:
            blocks.append(self._indicators(targets, self.vocabulary_))
        for block in self.blocks_:
            name, table, scale = block
            rows = [
                [r for t in parts if self._source(t) == name and (r := self._block_row(block, t))]
                for parts in targets
            ]
            blocks.append(_sum_rows(table, rows) / scale)
        if self.fallback_:
            blocks.append(self._indicators(targets, self.fallback_))
        missing = {t for parts in targets for t in parts if not self.represented(t)} - self._warned
        if missing and self.kind != "onehot":
            self._warned.update(missing)
            warnings.warn(
                f"{_summary(sorted(missing))} perturbation targets have no representation and "
                "were not seen in training: they add the zero vector.",
                UserWarning,
                stacklevel=2,
            )
        if not blocks:
            return np.zeros((len(targets), 0))
        return np.hstack(blocks)

    @staticmethod
    def _indicators(targets: Sequence[tuple[str, ...]], names: Sequence[str]) -> np.ndarray:
        index = {t: i for i, t in enumerate(names)}
        out = np.zeros((len(targets), len(index)))
        for i, parts in enumerate(targets):
            for p in parts:
                if p in index:
                    out[i, index[p]] += 1.0
        return out
