"""Row filters: keep the cells whose ``obs`` matches a pandas query (``obs_query``).

The query is a pandas expression over obs columns, as in ``DataFrame.query``:
``cell_quality == "normal" and time == 24`` or ``cell_type in ["CD4T", "B"]`` (backticks quote a
column name with spaces). Every applied filter is recorded in ``uns["vcbench"]["row_filters"]``
with the cells kept and dropped.
"""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data.contract import UNS_KEY
from vcbench.errors import DataContractError

ROW_FILTERS = "row_filters"


def query_mask(obs: pd.DataFrame, query: str, where: str = "obs") -> np.ndarray:
    """Boolean mask of the rows of ``obs`` matching ``query``; a bad query is a one-line error."""
    text = str(query).strip()
    columns = ", ".join(map(str, obs.columns)) or "(none)"
    if not text:
        raise DataContractError(
            f"The obs query for {where} is empty. Write a pandas expression over obs columns, "
            f'e.g. cell_quality == "normal"; columns: {columns}.'
        )
    try:
        result = obs.eval(text, engine="python")
    except Exception as exc:  # pandas raises many kinds: syntax, undefined names, types
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataContractError(
            f"The obs query {text!r} cannot be evaluated on {where} ({type(exc).__name__}: "
            f"{detail}). Write a pandas expression over obs columns (quote strings, use "
            f"backticks for names with spaces); columns: {columns}."
        ) from exc
    values = np.asarray(result)
    if values.shape != (len(obs),) or values.dtype != bool:
        raise DataContractError(
            f"The obs query {text!r} does not give True/False per cell on {where} (it gives "
            f"{type(result).__name__}). Write a condition, e.g. time == 24; columns: {columns}."
        )
    return values


def filter_record(query: str, where: str, before: int, kept: int) -> dict[str, Any]:
    """The record of one row filter: the query, where it was applied, cells kept and dropped."""
    return {
        "query": str(query),
        "where": where,
        "cells_before": int(before),
        "cells_kept": int(kept),
        "cells_dropped": int(before - kept),
    }


def describe_filter(record: dict[str, Any]) -> str:
    """One line for the terminal: ``obs query '...': kept K of N cells (D dropped)``."""
    return (
        f"obs query {record['query']!r} on {record['where']}: kept {record['cells_kept']:,} of "
        f"{record['cells_before']:,} cells ({record['cells_dropped']:,} dropped)"
    )


def apply_obs_query(
    adata: ad.AnnData, query: str, where: str = "obs"
) -> tuple[ad.AnnData, dict[str, Any]]:
    """The cells of ``adata`` matching ``query`` (a copy) and the filter's record.

    The record is appended to ``uns["vcbench"]["row_filters"]``; when the input carries a content
    fingerprint (a prepared file), it is recomputed for the filtered cells.
    """
    mask = query_mask(adata.obs, query, where)
    if not mask.any():
        raise DataContractError(
            f"The obs query {query!r} keeps no cell of {where} ({adata.n_obs:,} cells). Check the "
            "column values, e.g. with adata.obs[COLUMN].unique()."
        )
    record = filter_record(query, where, adata.n_obs, int(mask.sum()))
    kept = adata[mask].copy()
    uns = kept.uns.get(UNS_KEY)
    if isinstance(uns, dict):
        history = uns.get(ROW_FILTERS, {})
        history = dict(history) if isinstance(history, dict) else {}
        history[f"{len(history):02d}"] = record
        uns[ROW_FILTERS] = history
        if "fingerprint" in uns:
            from vcbench.data.fingerprint import fingerprint

            uns["fingerprint"] = fingerprint(kept)
    return kept, record


__all__ = ["ROW_FILTERS", "apply_obs_query", "describe_filter", "filter_record", "query_mask"]
