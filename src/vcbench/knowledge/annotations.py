"""The human gene annotations shipped with vcbench (``knowledge/data``, see its PROVENANCE.md).

Four tables derived from Bioconductor's org.Hs.eg.db 3.16.0 (NCBI Gene 2022-09-12, GO annotations
of 2022-07-01, Ensembl 2022-06-28) and GO.db 3.16.0 (go-basic.obo 2022-07-01), rebuilt by
``scripts/build_knowledge.py``. Each table is read once per process.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import numpy as np
import pandas as pd
import scipy.sparse as sp

ANNOTATION_VERSION = "org.Hs.eg.db 3.16.0 + GO.db 3.16.0 (GO 2022-07-01, NCBI Gene 2022-09-12)"
ONTOLOGIES = ("BP", "MF", "CC")
PROPAGATING_RELATIONS = ("isa", "part of")  # the true-path relations an annotation inherits along


@cache
def _table(name: str) -> pd.DataFrame:
    with files("vcbench.knowledge").joinpath("data", f"{name}.parquet").open("rb") as handle:
        return pd.read_parquet(handle)


def genes() -> pd.DataFrame:
    """Every human gene: ``entrez`` (int), ``symbol``, ``gene_type``, ``ensembl`` and ``aliases``
    (``|``-joined; ``aliases`` excludes the symbol)."""
    return _table("genes")


def go_terms() -> pd.DataFrame:
    """GO terms: ``go_id``, ``ontology`` (BP, MF, CC), ``term`` (name)."""
    return _table("go_terms")


def go_parents() -> pd.DataFrame:
    """GO edges ``child`` → ``parent`` with their ``relation`` (isa, part of, regulates, ...)."""
    return _table("go_parents")


@cache
def gene_term_matrix(
    ontologies: tuple[str, ...] = ONTOLOGIES, propagate: bool = False
) -> tuple[pd.Index, pd.Index, sp.csr_matrix]:
    """The binary gene × GO-term membership matrix ``A`` (``A[g, t] = 1`` when gene ``g``, a
    current symbol, is annotated to term ``t``), restricted to terms of ``ontologies`` and to genes
    with at least one such term; returns ``(genes, terms, A)``. ``propagate``: a gene is also a
    member of every ancestor of its direct terms along ``is_a`` and ``part_of`` (GO's true-path
    rule)."""
    closure = ancestor_closure()
    pairs = _table("gene_go").merge(genes()[["entrez", "symbol"]], on="entrez")
    term_codes = pairs["go_id"].map(closure.index_of)
    pairs, term_codes = pairs[term_codes.notna().to_numpy()], term_codes.dropna()
    symbols, gene_codes = np.unique(pairs["symbol"].to_numpy(dtype=str), return_inverse=True)
    n_terms = len(closure.terms)
    member = sp.csr_matrix(
        (np.ones(gene_codes.size), (gene_codes, term_codes.to_numpy(dtype=np.int64))),
        shape=(symbols.size, n_terms),
    )
    if propagate:
        member = member @ closure.matrix
    member.data[:] = 1.0
    onto = go_terms().set_index("go_id")["ontology"].reindex(closure.terms)
    keep_terms = np.flatnonzero(onto.isin(ontologies).to_numpy())
    member = member[:, keep_terms].tocsc()
    keep_terms = keep_terms[np.diff(member.indptr) > 0]  # terms with at least one gene
    member = member.tocsr()[:, np.diff(member.indptr) > 0].tocsr()
    keep_genes = np.diff(member.indptr) > 0
    member = member[keep_genes]
    member.sort_indices()
    terms = pd.Index(np.asarray(closure.terms)[keep_terms], name="go_term")
    return pd.Index(symbols[keep_genes], name="gene"), terms, member


@cache
def gene_go(ontologies: tuple[str, ...] = ONTOLOGIES, propagate: bool = False) -> pd.DataFrame:
    """The pairs of ``gene_term_matrix`` as a table: columns ``gene`` (current symbol) and
    ``go_term``, one row per distinct pair, sorted."""
    gene_index, term_index, member = gene_term_matrix(ontologies, propagate)
    coo = member.tocoo()
    order = np.lexsort((coo.col, coo.row))
    return pd.DataFrame(
        {
            "gene": gene_index.to_numpy()[coo.row[order]],
            "go_term": term_index.to_numpy()[coo.col[order]],
        }
    )


class _Closure:
    """The reflexive-transitive closure of the GO parent relation (``PROPAGATING_RELATIONS``):
    ``matrix[i, j] = 1`` when term ``j`` is term ``i`` or one of its ancestors."""

    def __init__(self) -> None:
        edges = go_parents()
        edges = edges[edges["relation"].isin(PROPAGATING_RELATIONS)]
        self.terms = sorted(set(go_terms()["go_id"]) | set(edges["child"]) | set(edges["parent"]))
        self.index_of = pd.Series(np.arange(len(self.terms)), index=self.terms)
        n = len(self.terms)
        step = sp.csr_matrix(
            (
                np.ones(len(edges)),
                (
                    self.index_of[edges["child"]].to_numpy(),
                    self.index_of[edges["parent"]].to_numpy(),
                ),
            ),
            shape=(n, n),
        )
        reach = (sp.identity(n, format="csr") + step).tocsr()
        while True:  # squaring doubles the path length reached, until nothing changes (a DAG)
            grown = reach @ reach
            grown.data[:] = 1.0
            if grown.nnz == reach.nnz:
                break
            reach = grown
        self.matrix = reach.tocsr()


@cache
def ancestor_closure() -> _Closure:
    """The (cached) ancestor closure of the GO graph along is_a and part_of."""
    return _Closure()
