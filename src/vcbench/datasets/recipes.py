"""Prepare a registry dataset: pick the source layout, apply its recipe, load it into the contract.

Steps, in order (each recorded in ``uns["vcbench"]["recipe"]``):

1. Read the file (the cached download, or a local file given with ``source_path``).
2. Pick the source layout: the one named, else the first whose columns the file has. A file that
   fits none (the wrong dataset) is an error listing the missing columns.
3. Apply column overrides (``columns={"context": "replicate"}``, ``control=[...]``).
4. Keep cells by ``keep_obs`` / ``min_obs``; drop cells without a perturbation label; clean labels
   (strip guide suffixes, rename with ``label_map``).
5. Gene identifiers: ``gene_id_column`` of var (or var_names), made unique.
6. QC: genes detected per cell, counts per cell and mitochondrial fraction (raw counts only),
   cells per gene, then cells per condition (conditions below the threshold are dropped).
7. ``load_dataset`` validates and normalises (raw counts → log1p of 1e4-normalised, counts kept).
8. The content fingerprint goes to ``uns["vcbench"]["fingerprint"]``; ``write_prepared`` writes
   the file atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from vcbench.data import contract as c
from vcbench.data.fingerprint import fingerprint
from vcbench.data.loader import load_dataset, read_h5ad
from vcbench.data.matrix_checks import stored_values
from vcbench.datasets.fetch import cached_file, download
from vcbench.datasets.registry import ColumnMapping, DatasetSpec, Source, get_spec
from vcbench.errors import DataContractError
from vcbench.files import write_h5ad_atomic

CONTEXT_COLUMN = "vcb_recipe_context"  # the constant context of sources without a context column
MAPPING_ROLES = ("perturbation", "context", "dataset", "dose")


def choose_source(
    spec: DatasetSpec,
    obs: pd.DataFrame,
    name: str | None = None,
    columns: Mapping[str, str | None] | None = None,
    control: Sequence[str] | None = None,
) -> tuple[Source, ColumnMapping]:
    """The source layout (named, else the first whose columns ``obs`` has) and its column mapping.

    Overrides (``columns``, ``control``) are applied before the columns are checked. A file that
    fits no layout (the wrong dataset) is an error listing what each layout misses.
    """
    candidates = [spec.source(name)] if name is not None else list(spec.sources)
    missing: dict[str, list[str]] = {}
    fits: list[tuple[bool, Source, ColumnMapping]] = []
    for candidate in candidates:
        mapping = override_columns(candidate.columns, columns, control)
        absent = [col for col in _needed_columns(candidate, mapping) if col not in obs.columns]
        if absent:
            missing[candidate.name] = absent
            continue
        own = _needed_columns(candidate, candidate.columns)
        fits.append((all(col in obs.columns for col in own), candidate, mapping))
    if fits:  # prefer a layout that fits the file without the overrides
        _, candidate, mapping = max(fits, key=lambda fit: fit[0])
        return candidate, mapping
    detail = "; ".join(f"layout {k!r} needs the missing column(s) {v}" for k, v in missing.items())
    available = ", ".join(map(repr, obs.columns)) or "(none)"
    raise DataContractError(
        f"The file does not look like {spec.name} ({spec.title}): {detail}. Its obs columns are: "
        f"{available}. Check that it is the right dataset, or name its columns with "
        "--map ROLE=COLUMN (roles: perturbation, context, dataset, dose) and --control LABEL."
    )


def _needed_columns(source: Source, mapping: ColumnMapping) -> list[str]:
    qc = source.qc
    needed = [
        *mapping.required_columns(),
        *(col for col, _ in qc.keep_obs),
        *(col for col, _ in qc.min_obs),
    ]
    return list(dict.fromkeys(needed))  # a column can serve several roles: name it once


def override_columns(
    mapping: ColumnMapping,
    columns: Mapping[str, str | None] | None = None,
    control: Sequence[str] | None = None,
) -> ColumnMapping:
    """``mapping`` with some roles pointed at other columns (``None`` or ``""`` = no column)."""
    changes: dict[str, Any] = {}
    for role, column in (columns or {}).items():
        if role not in MAPPING_ROLES:
            raise DataContractError(
                f"Unknown column role {role!r} in the mapping override. Roles: {', '.join(MAPPING_ROLES)} "
                "(e.g. --map context=cell_line)."
            )
        if role == "perturbation" and not column:
            raise DataContractError(
                "The perturbation role needs a column (e.g. --map perturbation=guide)."
            )
        changes[role] = column or None
    if control:
        changes["control"] = tuple(control)
    return replace(mapping, **changes)


def _keep(adata: ad.AnnData, mask: np.ndarray, step: str, log: list[dict[str, Any]]) -> ad.AnnData:
    log.append({"step": step, "cells_before": int(adata.n_obs), "cells_after": int(mask.sum())})
    return adata[mask].copy() if not mask.all() else adata


def _is_counts(matrix: Any) -> bool:
    values = stored_values(matrix)
    return bool(values.size) and bool(np.all(np.mod(values, 1) == 0))


def _clean_labels(
    adata: ad.AnnData, source: Source, key: str, log: list[dict[str, Any]]
) -> ad.AnnData:
    labels = adata.obs[key].astype("string").str.strip()
    assigned = labels.notna() & ~labels.isin(list(source.drop_labels))
    adata = _keep(adata, assigned.to_numpy(), "drop cells without a perturbation label", log)
    labels = adata.obs[key].astype(str).str.strip()
    if source.strip_label_pattern:
        labels = labels.str.replace(source.strip_label_pattern, "", regex=True)
    if source.label_map:
        labels = labels.replace(dict(source.label_map))
    adata.obs[key] = pd.Categorical(labels)
    return adata


def _set_gene_ids(adata: ad.AnnData, source: Source) -> None:
    if source.gene_id_column is not None:
        if source.gene_id_column not in adata.var.columns:
            raise DataContractError(
                f"The gene identifier column var[{source.gene_id_column!r}] does not exist; var "
                f"columns: {list(adata.var.columns)}. The file is not the expected {source.name} layout."
            )
        adata.var_names = adata.var[source.gene_id_column].astype(str).to_numpy()
    adata.var_names = adata.var_names.astype(str)
    adata.var_names_make_unique()


def _quality_control(
    adata: ad.AnnData, source: Source, columns: ColumnMapping, log: list[dict[str, Any]]
) -> ad.AnnData:
    qc = source.qc
    counts = _is_counts(adata.X)
    matrix = sparse.csr_matrix(adata.X)
    if qc.min_genes_per_cell:
        genes = np.asarray((matrix > 0).sum(axis=1)).ravel()
        adata = _keep(
            adata, genes >= qc.min_genes_per_cell, f"genes per cell >= {qc.min_genes_per_cell}", log
        )
        matrix = sparse.csr_matrix(adata.X)
    if qc.min_counts_per_cell or qc.max_mito_fraction is not None:
        if not counts:
            log.append({"step": "count-based QC skipped: X is not raw counts"})
        else:
            totals = np.asarray(matrix.sum(axis=1)).ravel()
            mask = totals >= qc.min_counts_per_cell
            if qc.max_mito_fraction is not None:
                mito = adata.var_names.str.upper().str.startswith("MT-")
                mito_counts = np.asarray(matrix[:, mito].sum(axis=1)).ravel()
                with np.errstate(invalid="ignore", divide="ignore"):
                    fraction = np.where(totals > 0, mito_counts / totals, 0.0)
                mask &= fraction <= qc.max_mito_fraction
            adata = _keep(
                adata,
                mask,
                f"counts per cell >= {qc.min_counts_per_cell}, mito fraction <= {qc.max_mito_fraction}",
                log,
            )
            matrix = sparse.csr_matrix(adata.X)
    if qc.min_cells_per_gene:
        cells = np.asarray((matrix > 0).sum(axis=0)).ravel()
        keep = cells >= qc.min_cells_per_gene
        log.append(
            {
                "step": f"cells per gene >= {qc.min_cells_per_gene}",
                "genes_before": int(adata.n_vars),
                "genes_after": int(keep.sum()),
            }
        )
        if not keep.all():
            adata = adata[:, keep].copy()
    if qc.min_cells_per_condition:
        groups = [columns.perturbation] + ([columns.context] if columns.context else [])
        sizes = adata.obs.groupby(groups, observed=True)[columns.perturbation].transform("size")
        is_control = adata.obs[columns.perturbation].astype(str).isin(columns.control)
        mask = (sizes >= qc.min_cells_per_condition).to_numpy() | is_control.to_numpy()
        adata = _keep(adata, mask, f"cells per condition >= {qc.min_cells_per_condition}", log)
    return adata


def prepare_adata(
    adata: ad.AnnData,
    name: str,
    *,
    source: str | None = None,
    columns: Mapping[str, str | None] | None = None,
    control: Sequence[str] | None = None,
    origin: str = "AnnData object",
) -> ad.AnnData:
    """Apply registry dataset ``name``'s recipe to ``adata`` (not modified); see the module docs."""
    spec = get_spec(name)
    adata = adata.copy()
    layout, mapping = choose_source(spec, adata.obs, source, columns, control)
    log: list[dict[str, Any]] = [
        {"step": "read", "cells": int(adata.n_obs), "genes": int(adata.n_vars)}
    ]
    for column, values in layout.qc.keep_obs:
        mask = adata.obs[column].astype(str).isin(values).to_numpy()
        adata = _keep(adata, mask, f"keep obs[{column!r}] in {list(values)}", log)
    for column, minimum in layout.qc.min_obs:
        mask = (pd.to_numeric(adata.obs[column], errors="coerce") >= minimum).to_numpy()
        adata = _keep(adata, mask, f"keep obs[{column!r}] >= {minimum}", log)
    adata = _clean_labels(adata, layout, mapping.perturbation, log)
    _set_gene_ids(adata, layout)
    context_key = mapping.context
    if context_key is None:
        adata.obs[CONTEXT_COLUMN] = pd.Categorical([mapping.context_label] * adata.n_obs)
        context_key = CONTEXT_COLUMN
    adata = _quality_control(adata, layout, replace(mapping, context=context_key), log)
    if adata.n_obs == 0:
        raise DataContractError(
            f"No cells are left after the {spec.name} recipe ({layout.name}); steps: {log}. Check that "
            "the file is the right dataset and layout (--source)."
        )
    prepared = load_dataset(
        adata,
        perturbation_key=mapping.perturbation,
        context_key=context_key,
        control=list(mapping.control),
        dataset_key=mapping.dataset,
        dose_key=mapping.dose,
        dataset_name=spec.name,
        combination_delimiter=mapping.combination_delimiter,
    )
    record = prepared.uns[c.UNS_KEY]
    record["source"] = origin
    record["registry"] = {
        "name": spec.name,
        "layout": layout.name,
        "columns": {
            k: ("" if v is None else v) for k, v in asdict(mapping).items() if k != "control"
        },
        "file": spec.file.url if spec.file else "",
        "licence": spec.licence,
        "citation": spec.citation,
    }
    record["recipe"] = {f"{i:02d}": step for i, step in enumerate(log)}
    record["fingerprint"] = fingerprint(prepared)
    return prepared


def prepare(
    name: str,
    source_path: str | Path | None = None,
    *,
    source: str | None = None,
    columns: Mapping[str, str | None] | None = None,
    control: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    out: str | Path | None = None,
    mirror: str | None = None,
    progress: bool = True,
) -> ad.AnnData:
    """Prepare registry dataset ``name`` into the contract form (downloading it unless given a file).

    Args:
        name: registry name (``vcbench datasets list``).
        source_path: a local copy of the file (or of a known subset); None = the cached download.
        source: the source layout to use (default: detected from the columns).
        columns: role -> obs column overrides, e.g. ``{"context": "replicate"}``.
        control: control label(s) overriding the layout's.
        out: write the prepared file there (atomically).
    """
    spec = get_spec(name)
    if source_path is None:
        path = cached_file(spec, cache_dir) or download(
            name, cache_dir, mirror=mirror, progress=progress
        )
    else:
        path = Path(source_path)
    prepared = prepare_adata(
        read_h5ad(path), name, source=source, columns=columns, control=control, origin=str(path)
    )
    if out is not None:
        write_prepared(prepared, out)
    return prepared


def write_prepared(adata: ad.AnnData, out: str | Path) -> Path:
    """Write ``adata`` to ``out`` atomically, with the umask's mode (``vcbench.files``)."""
    return write_h5ad_atomic(adata, out)


def counts_of(adata: ad.AnnData) -> dict[str, int]:
    """Cells, distinct non-control conditions and contexts of a prepared dataset."""
    obs = adata.obs
    perturbed = obs.loc[~obs[c.IS_CONTROL].to_numpy(), c.PERTURBATION]
    return {
        "cells": int(adata.n_obs),
        "perturbations": int(perturbed.astype(str).nunique()),
        "contexts": int(obs[c.CONTEXT].astype(str).nunique()),
    }


__all__ = [
    "choose_source",
    "counts_of",
    "override_columns",
    "prepare",
    "prepare_adata",
    "write_prepared",
]
