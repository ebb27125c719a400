"""Which features of a file are genes, and what they are called after preparation.

Without a ``GeneFilter`` every feature is kept under its var name (or ``gene_id_column``). With
one, only features whose identifier matches the filter's pattern (human Ensembl gene IDs) are
kept and renamed to their symbol from the file's own feature table (e.g. ``gene_short_name``);
the Ensembl ID, without its version suffix, stays in ``var["ensembl_id"]``. Repeated names are
made unique (``TBCE``, ``TBCE-1``) and counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vcbench.datasets.registry import Source
from vcbench.errors import DataContractError


def select_genes(
    var: pd.DataFrame, source: Source, log: list[dict[str, Any]]
) -> tuple[np.ndarray, pd.DataFrame]:
    """Positions of the kept features and their var table (index = the names used after)."""
    if source.gene_id_column is not None and source.gene_id_column not in var.columns:
        raise DataContractError(
            f"The gene identifier column var[{source.gene_id_column!r}] does not exist; var "
            f"columns: {list(var.columns)}. The file is not the expected {source.name} layout."
        )
    names = (
        var[source.gene_id_column].astype(str)
        if source.gene_id_column is not None
        else pd.Series(var.index.astype(str), index=var.index)
    )
    keep = np.arange(len(var))
    table = var.copy()
    gene_filter = source.genes
    if gene_filter is not None:
        if gene_filter.id_column is not None and gene_filter.id_column not in var.columns:
            raise DataContractError(
                f"The feature table has no column {gene_filter.id_column!r} with gene IDs; var "
                f"columns: {list(var.columns)}. The file is not the expected {source.name} layout."
            )
        ids = (
            var[gene_filter.id_column].astype(str)
            if gene_filter.id_column is not None
            else pd.Series(var.index.astype(str), index=var.index)
        )
        is_gene = ids.str.fullmatch(gene_filter.id_pattern).to_numpy(dtype=bool)
        if not is_gene.any():
            raise DataContractError(
                f"No feature ID matches {gene_filter.id_pattern!r} (e.g. {ids.iloc[:3].tolist()}). "
                f"The file is not the expected {source.name} layout (Ensembl gene IDs)."
            )
        symbol_column = next((c for c in gene_filter.symbol_columns if c in var.columns), None)
        symbols = var[symbol_column].astype("string").str.strip() if symbol_column else None
        keep = np.flatnonzero(is_gene)
        table = var.iloc[keep].copy()
        table["ensembl_id"] = ids.iloc[keep].str.replace(r"\.\d+$", "", regex=True).to_numpy()
        if symbols is not None:
            chosen = symbols.iloc[keep]
            usable = chosen.notna() & ~chosen.isin(["", "nan", "NA"])
            names = pd.Series(
                np.where(usable, chosen.fillna(""), table["ensembl_id"]), index=table.index
            )
        else:
            names = table["ensembl_id"]
        log.append(
            {
                "step": f"keep gene features (IDs matching {gene_filter.id_pattern!r}), named by "
                f"{symbol_column or 'Ensembl ID (no symbol column)'}",
                "genes_before": len(var),
                "genes_after": len(keep),
                "dropped": int(len(var) - len(keep)),
            }
        )
    else:
        names = names.iloc[keep]
    index = pd.Index(np.asarray(names, dtype=str))
    repeated = int(index.duplicated().sum())
    table.index = index
    if repeated:
        table.index = pd.Index(_make_unique(index))
        log.append({"step": "repeated gene names made unique", "genes_renamed": repeated})
    return keep, table


def _make_unique(index: pd.Index) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in index:
        n = seen.get(name, 0)
        out.append(name if n == 0 else f"{name}-{n}")
        seen[name] = n + 1
    return out


def mito_mask(names: pd.Index) -> np.ndarray:
    """Mitochondrial genes: symbols starting with ``MT-`` (any case)."""
    return np.asarray(names.str.upper().str.startswith("MT-"), dtype=bool)


__all__ = ["mito_mask", "select_genes"]
