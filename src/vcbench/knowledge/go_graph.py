"""GEARS's gene-ontology graph: genes linked by the Jaccard index of their GO-term sets.

With ``T_s`` the GO terms of gene ``s``, ``J(s, t) = |T_s ∩ T_t| / (|T_s| + |T_t| − |T_s ∩ T_t|)``.
Gene ``t`` receives an edge from each of its ``k + 1`` most similar genes ``s`` (itself included)
with ``J(s, t) > threshold`` (GEARS's ``make_GO``: ``k = 20``, threshold 0.1); ties go to the
earlier gene. The one implementation used by ``vcbench.models.deep.gears`` and the
``gears_official`` adapter.

The graph of the whole shipped table (20,728 nodes) takes about a minute to build; it is cached in
memory for the process and on disk (``$VCBENCH_CACHE_DIR`` or the user cache folder, one ``.npz``
per ``GO_GRAPH_VERSION``, annotation version and parameters, written atomically), so each process
after the first loads it in well under a second. A model that needs only the rows of some genes (``graph_genes``: the data's genes and the
perturbation targets, as the original GEARS restricts its graph to its gene list) can ask for them:
with ``rows``, ``jaccard_graph`` computes those rows only, each against every gene of the table, so
each is exactly the row the whole graph has; the nodes are those genes and their sources. The gene → GO-term table is the user's (``load_go_terms``) or the
shipped annotations (``shipped_go_terms``: direct BP, MF and CC annotations, as GEARS's gene2go).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from functools import cache, lru_cache
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
GO_GRAPH_VERSION = "go-jaccard-1"  # the definition above; a change makes a new cache file


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
    blocks: Iterator[tuple[int, np.ndarray]],
    n: int,
    k: int,
    threshold: float,
    n_columns: int | None = None,
) -> sp.csr_matrix:
    """Weights ``W[t, s]`` (``n × n_columns``, default square): for each row ``t`` of the
    similarity blocks (``(first row, block)``), the ``k`` largest entries (ties by column order)
    above ``threshold``."""
    rows, cols, vals = [], [], []
    for start, block in blocks:
        r, col = _row_top_k(block, k, threshold)
        rows.append(start + r)
        cols.append(col)
        vals.append(block[r, col])
    shape = (n, n if n_columns is None else n_columns)
    if not rows:
        return sp.csr_matrix(shape)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
    )


def graph_genes(genes: Sequence[str], perturbations: Sequence[str]) -> list[str]:
    """The genes whose rows a model's graph needs: ``genes`` and the targets of
    ``perturbations`` (combinations split), each also as its current gene symbol; sorted."""
    names = {str(g) for g in genes}
    names |= {t for p in perturbations for t in str(p).split("+") if t}
    names |= {symbol for name in list(names) if (symbol := gene_symbol(name))}
    return sorted(names)


def jaccard_graph(
    go_terms: pd.DataFrame,
    k: int,
    threshold: float,
    genes: Sequence[str] | None = None,
    rows: Sequence[str] | None = None,
) -> tuple[list[str], sp.csr_matrix]:
    """GEARS's GO graph (module docstring) over ``genes`` (each must be in the table; default:
    the table's genes, sorted): the node names and ``W[t, s] = J(s, t)`` for the ``k + 1`` genes
    most similar to ``t`` with ``J > threshold``.

    ``rows``: only the rows of these genes (those in the table; others are ignored), each computed
    against every node as in the whole graph; the nodes are then those genes and their sources
    (sorted), and a node that is only a source has no edge into it. The graph of the whole
    shipped table is computed once per process and parameters."""
    shipped = go_terms is shipped_go_terms()
    if rows is not None:
        wanted = tuple(sorted({str(g) for g in rows}))
        if shipped and genes is None:
            return _shipped_rows(k, threshold, wanted)
        return _graph_rows(go_terms, k, threshold, genes, wanted)
    if genes is None and shipped:
        return _shipped_graph(k, threshold)
    return _jaccard_graph(go_terms, k, threshold, genes)


@cache
def _shipped_graph(k: int, threshold: float) -> tuple[list[str], sp.csr_matrix]:
    from vcbench.knowledge.annotations import ANNOTATION_VERSION
    from vcbench.knowledge.go_embedding import knowledge_cache_file

    key = f"{GO_GRAPH_VERSION}|{ANNOTATION_VERSION}|{k}|{threshold!r}"
    path = knowledge_cache_file("go_graph", key)
    stored = _read_graph(path)
    if stored is not None:
        return stored
    nodes, weights = _jaccard_graph(shipped_go_terms(), k, threshold, None)
    _write_graph(path, nodes, weights)
    return nodes, weights


def _read_graph(path: Path | None) -> tuple[list[str], sp.csr_matrix] | None:
    if path is None or not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            n = f["nodes"].size
            weights = sp.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=(n, n))
            return f["nodes"].astype(str).tolist(), weights
    except Exception:  # a damaged cache file is recomputed
        return None


def _write_graph(path: Path | None, nodes: list[str], weights: sp.csr_matrix) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as handle:
            np.savez(
                handle,
                nodes=np.asarray(nodes, dtype=str),
                data=weights.data,
                indices=weights.indices,
                indptr=weights.indptr,
            )
        os.replace(handle.name, path)
    except OSError as exc:
        warnings.warn(
            f"the GO graph could not be cached at {path} ({exc}); it will be recomputed in each "
            "process. Set VCBENCH_CACHE_DIR to a writable folder.",
            UserWarning,
            stacklevel=3,
        )


@lru_cache(maxsize=4)
def _shipped_rows(
    k: int, threshold: float, rows: tuple[str, ...]
) -> tuple[list[str], sp.csr_matrix]:
    return _graph_rows(shipped_go_terms(), k, threshold, None, rows)


def _graph_rows(
    go_terms: pd.DataFrame,
    k: int,
    threshold: float,
    genes: Sequence[str] | None,
    rows: Sequence[str],
) -> tuple[list[str], sp.csr_matrix]:
    """``jaccard_graph`` with ``rows``: the rows of those genes, then the graph cut down to the
    rows and their sources."""
    nodes, weights = _jaccard_graph(go_terms, k, threshold, genes, rows)
    keep = np.union1d(np.flatnonzero(np.diff(weights.indptr)), np.unique(weights.indices))
    positions = pd.Index(nodes).get_indexer(list(rows))
    keep = np.union1d(keep, positions[positions >= 0])
    return [nodes[i] for i in keep], weights[keep][:, keep].tocsr()


def _jaccard_graph(
    go_terms: pd.DataFrame,
    k: int,
    threshold: float,
    genes: Sequence[str] | None,
    rows: Sequence[str] | None = None,
) -> tuple[list[str], sp.csr_matrix]:
    """The graph over ``genes`` (default: the table's); with ``rows``, only their rows are
    computed (the others stay empty)."""
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
    if rows is None:
        computed = np.arange(nodes.size)
    else:
        positions = pd.Index(nodes).get_indexer(list(rows))
        computed = np.unique(positions[positions >= 0])

    def blocks() -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, computed.size, SIMILARITY_CHUNK):
            chunk = computed[start : start + SIMILARITY_CHUNK]
            shared = (member[chunk] @ member.T).toarray()
            union = sizes[chunk, None] + sizes[None, :] - shared
            yield (
                start,
                np.divide(shared, union, out=np.zeros_like(shared), where=union > 0).astype(
                    np.float64
                ),
            )

    weights = top_k_edges(blocks(), computed.size, k + 1, threshold, n_columns=nodes.size)
    if rows is not None:  # row i of ``weights`` is node computed[i]
        weights = (
            sp.csr_matrix(
                (np.ones(computed.size), (computed, np.arange(computed.size))),
                shape=(nodes.size, computed.size),
            )
            @ weights
        )
    return nodes.tolist(), weights.tocsr()


def graph_edges(nodes: Sequence[str], weights: sp.csr_matrix) -> pd.DataFrame:
    """The edges ``source → target`` of a graph ``W[t, s]`` as a table (columns ``source``,
    ``target``, ``importance``; GEARS's edge-list format)."""
    coo = weights.tocoo()
    names = np.asarray(list(nodes), dtype=object)
    return pd.DataFrame(
        {"source": names[coo.col], "target": names[coo.row], "importance": coo.data}
    )
