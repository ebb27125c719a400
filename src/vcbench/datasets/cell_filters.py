"""The recipe's cell steps that need only ``obs``: run before any expression value is read.

Each step narrows a boolean mask over the file's cells and is logged with the cells before and
after it: layout filters (``keep_obs``, ``min_obs``), the user's ``obs_query``, cells without a
perturbation label, cells whose label a layout drops (CRISPR guide cells in a compound screen),
cells missing a context or dose value, and the dose selection.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vcbench.data.obs_query import filter_record, query_mask
from vcbench.datasets.layouts import template_columns
from vcbench.datasets.registry import ColumnMapping, Source
from vcbench.errors import DataContractError

MISSING = ("", "nan", "NaN", "None", "none", "<NA>")
DOSE_ALL = "all"
DOSE_MAX = "max"


def clean_labels(labels: pd.Series, source: Source, mapping: ColumnMapping) -> pd.Series:
    """Contract labels from raw ones: strip guide suffixes, rename (``label_map``), and remove
    "no perturbation" combination parts (``A+ctrl`` -> ``A``; ``ctrl`` alone -> the control)."""
    cleaned = labels.astype(str).str.strip()
    if source.strip_label_pattern:
        cleaned = cleaned.str.replace(source.strip_label_pattern, "", regex=True)
    if source.label_map:
        cleaned = cleaned.replace(dict(source.label_map))
    if source.control_parts and mapping.combination_delimiter:
        delimiter = mapping.combination_delimiter
        parts = set(source.control_parts)

        def drop_parts(label: str) -> str:
            kept = [p for p in label.split(delimiter) if p.strip() and p.strip() not in parts]
            return delimiter.join(kept) if kept else mapping.control[0]

        unique = pd.unique(cleaned)
        cleaned = cleaned.map(dict(zip(unique, map(drop_parts, unique), strict=True)))
    return cleaned


def present(values: pd.Series) -> np.ndarray:
    """True where a value is set (not NaN, not an empty or 'nan'-like string)."""
    text = values.astype("string").str.strip()
    return (text.notna() & ~text.isin(list(MISSING))).to_numpy(dtype=bool)


class CellMask:
    """A mask over the file's cells, narrowed step by step, each step logged."""

    def __init__(self, n_cells: int, log: list[dict[str, Any]]) -> None:
        self.keep = np.ones(n_cells, dtype=bool)
        self.log = log

    def narrow(self, mask: np.ndarray, step: str) -> None:
        before = int(self.keep.sum())
        self.keep &= np.asarray(mask, dtype=bool)
        after = int(self.keep.sum())
        self.log.append(
            {"step": step, "cells_before": before, "cells_after": after, "dropped": before - after}
        )


def dose_mask(
    dose: pd.Series, labels: pd.Series, is_control: np.ndarray, keep: np.ndarray, selection: str
) -> np.ndarray:
    """Cells at the selected dose: ``"max"`` = each perturbation's highest dose among the kept
    cells, a number = that dose; control cells always pass."""
    values = pd.to_numeric(dose, errors="coerce").to_numpy(dtype=float)
    if selection == DOSE_MAX:
        kept = pd.Series(np.where(keep & ~is_control, values, np.nan), index=labels.index)
        top = kept.groupby(labels.to_numpy()).transform("max").to_numpy(dtype=float)
        chosen = values == top
    else:
        try:
            target = float(selection)
        except ValueError as exc:
            raise DataContractError(
                f"Dose selection {selection!r} is not 'all', 'max' or a number. Pass e.g. "
                "--dose max (each compound's highest dose), --dose 1000 or --dose all."
            ) from exc
        chosen = np.isclose(values, target)
        if not (chosen & keep & ~is_control).any():
            found = sorted(set(values[keep & ~is_control & np.isfinite(values)].tolist()))
            raise DataContractError(
                f"No perturbed cell has dose {selection}; the doses are {found[:12]}. Pass one of "
                "them, 'max' or 'all'."
            )
    return np.asarray(is_control | chosen, dtype=bool)


def select_cells(
    obs: pd.DataFrame,
    source: Source,
    mapping: ColumnMapping,
    *,
    obs_query: str | None,
    dose: str | None,
    use_template: bool,
    log: list[dict[str, Any]],
) -> tuple[np.ndarray, pd.Series, dict[str, Any] | None]:
    """The mask of cells kept by the obs steps (the obs query first), the cleaned labels of all cells, and the record
    of the obs query (None when there is none)."""
    cells = CellMask(len(obs), log)
    query_record = None
    if obs_query:  # first, so that its counts are those of the file
        cells.narrow(query_mask(obs, obs_query, "the input file"), f"obs query {obs_query!r}")
        query_record = filter_record(obs_query, "the input file", len(obs), int(cells.keep.sum()))
    for column, values in source.qc.keep_obs:
        mask = obs[column].astype(str).isin(values).to_numpy()
        cells.narrow(mask, f"keep obs[{column!r}] in {list(values)}")
    for column, minimum in source.qc.min_obs:
        mask = (pd.to_numeric(obs[column], errors="coerce") >= minimum).to_numpy()
        cells.narrow(mask, f"keep obs[{column!r}] >= {minimum}")
    raw = obs[mapping.perturbation].astype("string").str.strip()
    assigned = raw.notna() & ~raw.isin(list(source.drop_labels))
    cells.narrow(assigned.to_numpy(dtype=bool), "drop cells without a perturbation label")
    if source.drop_label_pattern:
        matched = raw.fillna("").str.contains(source.drop_label_pattern, regex=True)
        cells.narrow(
            ~matched.to_numpy(dtype=bool),
            f"drop cells whose label matches {source.drop_label_pattern!r}",
        )
    needed = [mapping.context, mapping.dose]
    needed += template_columns(source.context_template) if use_template else []
    for column in dict.fromkeys(c for c in needed if c):
        cells.narrow(present(obs[column]), f"drop cells without obs[{column!r}]")
    labels = clean_labels(obs[mapping.perturbation].astype("string").fillna(""), source, mapping)
    selection = dose if dose is not None else source.dose_selection
    if mapping.dose and selection != DOSE_ALL:
        is_control = labels.isin(mapping.control).to_numpy()
        mask = dose_mask(obs[mapping.dose], labels, is_control, cells.keep, str(selection))
        cells.narrow(mask, f"keep one dose per perturbation ({selection}; controls kept)")
    elif selection != DOSE_ALL and dose is not None:
        raise DataContractError(
            f"--dose {dose} needs a dose column, and this layout has none; map one with "
            "--map dose=COLUMN."
        )
    return cells.keep, labels, query_record


def build_context(obs: pd.DataFrame, template: str) -> pd.Series:
    """Context labels from a template over obs columns; whole-number values lose their '.0'."""
    columns = template_columns(template)
    parts: dict[str, pd.Series] = {}
    for column in columns:
        values = obs[column]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().all() and (numeric % 1 == 0).all():
            parts[column] = numeric.astype("int64").astype(str)
        else:
            parts[column] = values.astype(str).str.strip()
    frame = pd.DataFrame(parts, index=obs.index)
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(frame))
    names = [template.format(**dict(zip(columns, key, strict=True))) for key in uniques]
    return pd.Series(np.asarray(names, dtype=object)[codes], index=obs.index)


__all__ = [
    "DOSE_ALL",
    "DOSE_MAX",
    "CellMask",
    "build_context",
    "clean_labels",
    "dose_mask",
    "present",
    "select_cells",
]
