"""GEARS's gene-ontology graph: genes linked by the Jaccard index of their GO-term sets.

With ``T_s`` the GO terms of gene ``s``, ``J(s, t) = |T_s ∩ T_t| / (|T_s| + |T_t| − |T_s ∩ T_t|)``.
Gene ``t`` receives an edge from each of its ``k + 1`` most similar genes ``s`` (itself included)
with ``J(s, t) > threshold`` (GEARS's ``make_GO``: ``k = 20``, threshold 0.1); ties go to the
earlier gene. The one implementation used by ``vcbench.models.deep.gears`` and the
``gears_official`` adapter. The gene → GO-term table is the user's (``load_go_terms``) or the
shipped annotations (``shipped_go_terms``: direct BP, MF and CC annotations, as GEARS's gene2go).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from vcbench.errors import ModelError
from vcbench.knowledge.annotations import gene_go
from vcbench.knowledge.harmonize import gene_symbol

GoTermSource = str | Path | pd.DataFrame
SHIPPED = "shipped"  # the value of a go_terms parameter that names the shipped annotations
AUTO = "auto"  # the shipped annotations when they cover a training target, else no GO table
SIMILARITY_CHUNK = 256  # rows of a similarity matrix computed at once


def shipped_go_terms() -> pd.DataFrame:
    """The shipped direct GO annotations (BP, MF, CC) as a ``gene``/``go_term`` table."""
    return gene_go()


def load_go_terms(source: GoTermSource) -> pd.DataFrame:
    """A gene → GO-term table (columns ``gene`` and ``go_term``, one row per distinct pair) from a
    DataFrame, a ``.csv``/``.parquet`` file, or ``"shipped"`` (``shipped_go_terms``); rows with a
    missing value are dropped."""
    if isinstance(source, str) and source == SHIPPED:
        return shipped_go_terms()
    if isinstance(source, pd.DataFrame):
        table = source
    else:
        path = Path(source)
        if not path.exists():
            raise ModelError(
                f"GO-term file {path} does not exist (or pass go_terms='shipped' for the shipped "
                "annotations)."
            )
        suffix = path.suffix.lower()
        if suffix == ".csv":
            table = pd.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            table = pd.read_parquet(path)
        else:
            raise ModelError(f"GO-term file {path} must be .csv or .parquet, not {suffix!r}.")
    missing = {"gene", "go_term"} - set(table.columns)
    if missing:
        raise ModelError(
            f"The GO-term table needs columns 'gene' and 'go_term'; it lacks {sorted(missing)} "
            f"(it has {list(table.columns)[:10]})."
        )
    table = table[["gene", "go_term"]].dropna().astype(str).drop_duplicates()
    if table.empty:
        raise ModelError("The GO-term table has no (gene, go_term) rows.")
    return table.reset_index(drop=True)


def shipped_if_it_covers(
    source: GoTermSource | None, perturbations: Sequence[str]
) -> pd.DataFrame | None:
    """The GO table a GEARS model uses: ``source`` loaded; for ``"auto"``, the shipped table when
    it annotates at least half of the targets of ``perturbations`` (by name or gene symbol), else
    None; None for None."""
    if source is None:
        return None
    if not (isinstance(source, str) and source == AUTO):
        return load_go_terms(source)
    table = shipped_go_terms()
    annotated = set(table["gene"])
    targets = {t for p in perturbations for t in p.split("+") if t}
    if 2 * sum(t in annotated or gene_symbol(t) in annotated for t in targets) >= max(
        len(targets), 1
    ):
        return table
    return None


def _row_top_k(block: np.ndarray, k: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The ``(row, column)`` positions of each row's ``k`` largest entries above ``threshold``
    (ties by column order): a partial partition finds each row's ``k``-th value, and only the
    entries at least as large are sorted."""
    k_eff = min(k, block.shape[1])
    if k_eff == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    kth = -np.partition(-block, k_eff - 1, axis=1)[:, k_eff - 1]
    rows, cols = np.nonzero((block >= kth[:, None]) & (block > threshold))
    values = block[rows, cols]
    order = np.lexsort((cols, -values, rows))  # by row, then value descending, then column
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, rows, side="left")
    keep = np.arange(rows.size) - starts < k_eff
    return rows[keep], cols[keep]


def top_k_edges(
    blocks: Iterator[tuple[int, np.ndarray]], n: int, k: int, threshold: float
) -> sp.csr_matrix:
    """Weights ``W[t, s]``: for each row ``t`` of the similarity blocks (``(first row, block)``),
    the ``k`` largest entries (ties by column order) above ``threshold``."""
    rows, cols, vals = [], [], []
    for start, block in blocks:
        r, col = _row_top_k(block, k, threshold)
        rows.append(start + r)
        cols.append(col)
        vals.append(block[r, col])
    if not rows:
        return sp.csr_matrix((n, n))
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


def jaccard_graph(
    go_terms: pd.DataFrame, k: int, threshold: float, genes: Sequence[str] | None = None
) -> tuple[list[str], sp.csr_matrix]:
    """GEARS's GO graph (module docstring) over ``genes`` (each must be in the table; default:
    the table's genes, sorted): the node names and ``W[t, s] = J(s, t)`` for the ``k + 1`` genes
    most similar to ``t`` with ``J > threshold``. The graph of the whole shipped table is computed
    once per process and parameters."""
    if genes is None and go_terms is shipped_go_terms():
        return _shipped_graph(k, threshold)
    return _jaccard_graph(go_terms, k, threshold, genes)


@cache
def _shipped_graph(k: int, threshold: float) -> tuple[list[str], sp.csr_matrix]:
    return _jaccard_graph(shipped_go_terms(), k, threshold, None)


def _jaccard_graph(
    go_terms: pd.DataFrame, k: int, threshold: float, genes: Sequence[str] | None
) -> tuple[list[str], sp.csr_matrix]:
    table_genes = go_terms["gene"].to_numpy(dtype=str)
    nodes = np.unique(table_genes) if genes is None else np.asarray(list(genes), dtype=str)
    position = pd.Index(nodes).get_indexer(table_genes)
    keep = position >= 0
    terms, term_codes = np.unique(
        go_terms["go_term"].to_numpy(dtype=str)[keep], return_inverse=True
    )
    member = sp.csr_matrix(
        (np.ones(term_codes.size), (position[keep], term_codes)), shape=(nodes.size, terms.size)
    )
    member.data[:] = 1.0  # a repeated (gene, term) pair counts once
    sizes = np.asarray(member.sum(axis=1)).ravel()

    def blocks() -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, nodes.size, SIMILARITY_CHUNK):
            stop = min(start + SIMILARITY_CHUNK, nodes.size)
            shared = (member[start:stop] @ member.T).toarray()
            union = sizes[start:stop, None] + sizes[None, :] - shared
            yield (
                start,
                np.divide(shared, union, out=np.zeros_like(shared), where=union > 0).astype(
                    np.float64
                ),
            )

    return nodes.tolist(), top_k_edges(blocks(), nodes.size, k + 1, threshold)


def graph_edges(nodes: Sequence[str], weights: sp.csr_matrix) -> pd.DataFrame:
    """The edges ``source → target`` of a graph ``W[t, s]`` as a table (columns ``source``,
    ``target``, ``importance``; GEARS's edge-list format)."""
    coo = weights.tocoo()
    names = np.asarray(list(nodes), dtype=object)
    return pd.DataFrame(
        {"source": names[coo.col], "target": names[coo.row], "importance": coo.data}
    )
