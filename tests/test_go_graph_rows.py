"""GEARS's GO graph restricted to the rows a model needs (``jaccard_graph(rows=...)``): each row is
exactly the whole graph's row, the nodes are those genes and their sources."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vcbench.knowledge.go_graph import graph_genes, jaccard_graph, shipped_go_terms

K, THRESHOLD = 20, 0.1


def _random_table(seed: int = 0, n_genes: int = 400, n_terms: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_genes):
        for t in rng.choice(n_terms, rng.integers(1, 8), replace=False):
            rows.append((f"G{g:03d}", f"GO:{t:04d}"))
    return pd.DataFrame(rows, columns=["gene", "go_term"])


def _row(nodes: list[str], weights, gene: str) -> dict[str, float]:
    row = weights.getrow(nodes.index(gene))
    return {nodes[j]: v for j, v in zip(row.indices, row.data, strict=True)}


def test_restricted_rows_equal_the_whole_graphs_rows() -> None:
    table = _random_table()
    nodes, weights = jaccard_graph(table, K, THRESHOLD)
    wanted = [f"G{g:03d}" for g in range(0, 400, 9)] + ["NOT_A_GENE"]
    sub_nodes, sub_weights = jaccard_graph(table, K, THRESHOLD, rows=wanted)
    assert sub_nodes == sorted(sub_nodes) and len(sub_nodes) < len(nodes)
    for gene in wanted[:-1]:
        assert _row(sub_nodes, sub_weights, gene) == _row(nodes, weights, gene)
    sources = {s for gene in wanted[:-1] for s in _row(nodes, weights, gene)}
    assert set(sub_nodes) == set(wanted[:-1]) | sources
    # a node that is only a source has no edge into it
    only_sources = sorted(set(sub_nodes) - set(wanted))
    assert only_sources and all(not _row(sub_nodes, sub_weights, g) for g in only_sources)


def test_shipped_rows_match_a_brute_force_jaccard() -> None:
    """Independent computation on the shipped annotations: Jaccard of term sets with every gene,
    the k + 1 largest above the threshold (ties by gene name)."""
    table = shipped_go_terms()
    terms = table.groupby("gene")["go_term"].agg(frozenset)
    wanted = ["TP53", "MYC", "KLF1"]
    nodes, weights = jaccard_graph(table, K, THRESHOLD, rows=wanted)
    for gene in wanted:
        mine = terms[gene]
        scores = pd.Series(
            {other: len(mine & t) / len(mine | t) for other, t in terms.items() if mine & t}
        )
        scores = scores[scores > THRESHOLD]
        order = sorted(scores.index, key=lambda name: (-scores[name], name))[: K + 1]
        got = _row(nodes, weights, gene)
        assert list(got) and set(got) == set(order)
        np.testing.assert_allclose([got[n] for n in order], scores[order].to_numpy())


def test_graph_genes_adds_targets_and_symbols() -> None:
    genes = graph_genes(["GATA1", "ENSG00000141510"], ["KLF1+CEBPA", "ctrl_like"])
    assert {"GATA1", "KLF1", "CEBPA", "ENSG00000141510", "TP53"} <= set(genes)
    assert genes == sorted(genes)


def test_the_whole_shipped_graph_is_read_back_from_the_disk_cache(tmp_path, monkeypatch) -> None:
    """The cached file gives back exactly the graph written, and a process that finds it does not
    compute the graph again."""
    from vcbench.knowledge import go_graph

    table = _random_table(1)
    nodes, weights = jaccard_graph(table, K, THRESHOLD)
    monkeypatch.setenv("VCBENCH_CACHE_DIR", str(tmp_path))
    go_graph._shipped_graph.cache_clear()
    monkeypatch.setattr(go_graph, "_jaccard_graph", lambda *a, **k: (nodes, weights))
    first = go_graph._shipped_graph(K, THRESHOLD)  # "computes" (the stand-in) and writes
    (stored,) = (tmp_path / "knowledge").glob("go_graph_*.npz")
    go_graph._shipped_graph.cache_clear()

    def must_not_run(*args, **kwargs):
        raise AssertionError("the graph was computed again")

    monkeypatch.setattr(go_graph, "_jaccard_graph", must_not_run)
    again = go_graph._shipped_graph(K, THRESHOLD)
    go_graph._shipped_graph.cache_clear()
    assert again[0] == nodes == first[0]
    assert (again[1] != weights).nnz == 0 and again[1].shape == weights.shape
    stored.write_bytes(b"damaged")  # a damaged file is recomputed
    monkeypatch.setattr(go_graph, "_jaccard_graph", lambda *a, **k: (nodes, weights))
    assert go_graph._shipped_graph(K, THRESHOLD)[0] == nodes
    go_graph._shipped_graph.cache_clear()
