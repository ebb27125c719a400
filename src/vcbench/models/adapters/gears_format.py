"""What the ``gears_official`` adapter hands to GEARS, without importing GEARS: pure functions.

- ``load_go_terms``: the gene → GO-term sets GEARS reads from ``gene2go_all.pkl``;
- ``coexpression_go_terms``: the stand-in "terms" when no GO table is given;
- ``go_graph_edges``: GEARS's GO graph (``make_GO``'s edges) over the perturbable genes;
- ``gears_condition`` and ``training_conditions``: vcbench labels as GEARS's condition strings
  (``"A+ctrl"``, ``"A+B"``, ``"ctrl"``), and which training perturbations GEARS can use;
- ``custom_split``: GEARS's ``split='custom'`` dictionary (train and validation conditions);
- ``gears_frame``: the training cells as the AnnData ``PertData.new_data_process`` reads.
"""

from __future__ import annotations

from typing import NamedTuple

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.knowledge.go_graph import GoTermSource, graph_edges, jaccard_graph
from vcbench.knowledge.go_graph import load_go_terms as load_go_table

GEARS_CONTROL = "ctrl"
JACCARD_THRESHOLD = 0.1  # GEARS's get_GO_edge_list keeps edges with a Jaccard index above this
CELL_TYPE = "pooled"  # GEARS has no context input: every training cell is one cell type


def load_go_terms(source: GoTermSource) -> dict[str, set[str]]:
    """The gene → GO-term sets of a table with columns ``gene`` and ``go_term`` (one row per
    pair): a DataFrame or a ``.csv``/``.parquet`` file (``vcbench.models.go_terms``)."""
    table = load_go_table(source)
    return {gene: set(terms) for gene, terms in table.groupby("gene", sort=False)["go_term"]}


def coexpression_go_terms(
    x: np.ndarray, genes: list[str], k: int, threshold: float
) -> dict[str, set[str]]:
    """Co-expression "GO terms" of each gene: the ``k + 1`` genes of largest absolute Pearson
    correlation with it over the rows of ``x`` (cells × genes; itself included, as GEARS's
    co-expression graph) whose ``|r|`` exceeds ``threshold``; the Jaccard index of two genes' sets
    is then the overlap of their co-expression neighbourhoods."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0)
    norms = np.sqrt((centred**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (centred.T @ centred) / np.outer(norms, norms)
    r = np.nan_to_num(np.abs(r), nan=0.0)
    np.fill_diagonal(r, 1.0)
    out: dict[str, set[str]] = {}
    for i, gene in enumerate(genes):
        order = np.argsort(-r[i], kind="stable")[: k + 1]
        out[gene] = {f"coexpr:{genes[j]}" for j in order if j == i or r[i, j] > threshold}
    return out


def go_graph_edges(gene2go: dict[str, set[str]], genes: list[str], k: int) -> pd.DataFrame:
    """GEARS's GO graph over ``genes`` (each must be in ``gene2go``): the edges ``source →
    target`` of Jaccard index above 0.1 (``get_GO_edge_list``), each target keeping its ``k + 1``
    largest (``nlargest`` in ``get_similarity_network``; ties to the earlier source), computed by
    ``vcbench.knowledge.go_graph.jaccard_graph``. Columns ``source``, ``target``, ``importance``."""
    table = pd.DataFrame(
        [(g, t) for g in genes for t in sorted(gene2go[g])], columns=["gene", "go_term"]
    )
    nodes, weights = jaccard_graph(table, k, JACCARD_THRESHOLD, genes=genes)
    return graph_edges(nodes, weights)


def gears_condition(targets: tuple[str, ...]) -> str:
    """GEARS's condition string: ``"ctrl"`` for no target, ``"A+ctrl"`` for one, ``"A+B"``."""
    if not targets:
        return GEARS_CONTROL
    if len(targets) == 1:
        return f"{targets[0]}+{GEARS_CONTROL}"
    return "+".join(targets)


class TrainingConditions(NamedTuple):
    """Which training cells GEARS can use (``keep``), their GEARS conditions (``""`` for a cell
    that is not kept), and the perturbations dropped: a target outside the graph
    (``not_in_graph``, with the ``missing`` targets) or more than two targets (``too_many``)."""

    keep: np.ndarray
    conditions: np.ndarray
    usable: list[str]
    not_in_graph: list[str]
    too_many: list[str]
    missing: list[str]


def training_conditions(
    labels: np.ndarray, is_control: np.ndarray, gene2go: dict[str, set[str]]
) -> TrainingConditions:
    """Sort the training perturbations (``labels`` of the non-control cells) into those GEARS can
    train on (every target in ``gene2go``, at most two targets) and those it drops."""
    unique = sorted(set(labels[~is_control]))
    parts = {p: c.split_combination(p) for p in unique}
    too_many = [p for p in unique if len(parts[p]) > 2]
    not_in_graph = [
        p for p in unique if len(parts[p]) <= 2 and any(t not in gene2go for t in parts[p])
    ]
    dropped = set(too_many) | set(not_in_graph)
    usable = [p for p in unique if p not in dropped]
    missing = sorted({t for p in not_in_graph for t in parts[p] if t not in gene2go})
    mapping = {p: gears_condition(parts[p]) for p in usable}
    keep = is_control | np.isin(labels, usable)
    conditions = np.array(
        [
            GEARS_CONTROL if ctrl else mapping.get(p, "")
            for p, ctrl in zip(labels, is_control, strict=True)
        ],
        dtype=object,
    )
    return TrainingConditions(keep, conditions, usable, not_in_graph, too_many, missing)


def custom_split(
    conditions: pd.Series | np.ndarray, val_fraction: float, seed: int, model: str
) -> dict[str, list[str]]:
    """GEARS's custom split: controls and every perturbation train, and validate on the same
    perturbations when ``val_fraction`` is 0; otherwise a seeded ``val_fraction`` of them (at
    least one, at most all but one) is held out of training for validation."""
    perturbations = sorted(set(conditions) - {GEARS_CONTROL})
    if val_fraction == 0:
        return {"train": [GEARS_CONTROL, *perturbations], "val": perturbations}
    n_val = max(1, round(val_fraction * len(perturbations)))
    if n_val >= len(perturbations):
        raise ModelError(
            f"{model}: val_fraction={val_fraction} leaves no training perturbation "
            f"({len(perturbations)} in all)."
        )
    rng = np.random.default_rng(seed)
    val = sorted(rng.choice(perturbations, n_val, replace=False).tolist())
    train = [p for p in perturbations if p not in val]
    return {"train": [GEARS_CONTROL, *train], "val": val}


def gears_frame(x: sp.csr_matrix, genes: list[str], kept: TrainingConditions) -> ad.AnnData:
    """The kept training cells in GEARS's format: sparse ``X``; obs ``condition`` and
    ``cell_type`` (one pooled type), cells named ``cell0``, ``cell1``, …; var ``gene_name``."""
    keep = kept.keep
    return ad.AnnData(
        X=x[keep],
        obs=pd.DataFrame(
            {"condition": kept.conditions[keep], "cell_type": CELL_TYPE},
            index=[f"cell{i}" for i in range(int(keep.sum()))],
        ),
        var=pd.DataFrame({"gene_name": genes}, index=genes),
    )
