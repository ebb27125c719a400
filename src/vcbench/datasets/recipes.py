"""Prepare a registry dataset: pick the source layout, apply its recipe, load it into the contract.

Steps, in order (each recorded in ``uns["vcbench"]["recipe"]`` with the cells or genes before and
after it):

1. Find the file: the cached download or a local file (``source_path``), verified first
   (size, then sha256 where published, else md5; ``vcbench.datasets.verify``). A local file is
   verified when it is the registry file (same name or size, or ``verify=True``).
2. Open it backed (only obs and var in memory) and pick the source layout: the one named, else
   the first whose columns and label format the file fits (``vcbench.datasets.layouts``).
3. Cell steps on obs (``vcbench.datasets.cell_filters``): the layout's filters, the user's
   ``obs_query``, cells without a perturbation label, labels the layout drops, cells missing a
   context or dose value, the dose selection.
4. Gene features (``vcbench.datasets.gene_features``): genes only and symbols where the layout
   says so, names made unique.
5. X is read in chunks of cells, only the kept cells and genes, with the per-cell QC (genes
   detected; total counts and mitochondrial fraction on raw counts) on the way
   (``vcbench.datasets.matrix_pass``).
6. Labels cleaned (guide suffixes, renames, ``ctrl`` parts), the context built, then genes
   detected in too few cells and conditions with too few cells dropped.
7. ``load_dataset`` validates and normalises (raw counts → log1p of 1e4-normalised, counts kept);
   the content fingerprint goes to ``uns["vcbench"]["fingerprint"]``; ``write_prepared`` writes
   the file atomically.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.data.fingerprint import fingerprint
from vcbench.data.loader import load_dataset
from vcbench.datasets.cell_filters import build_context, select_cells
from vcbench.datasets.fetch import cached_file, download, verify_cached
from vcbench.datasets.gene_features import mito_mask, select_genes
from vcbench.datasets.layouts import choose_source, override_columns
from vcbench.datasets.matrix_pass import CHUNK_CELLS, read_matrix
from vcbench.datasets.registry import ColumnMapping, DatasetSpec, Source, get_spec
from vcbench.datasets.verify import verify_file
from vcbench.errors import DataContractError, DatasetFileError
from vcbench.files import write_h5ad_atomic

CONTEXT_COLUMN = "vcb_recipe_context"  # the context column a recipe builds (constant or template)


def _run_recipe(
    adata: ad.AnnData,
    spec: DatasetSpec,
    *,
    source: str | None,
    columns: Mapping[str, str | None] | None,
    control: Sequence[str] | None,
    delimiter: str | None,
    dose: str | None,
    obs_query: str | None,
    chunk_cells: int,
) -> tuple[ad.AnnData, Source, ColumnMapping, dict[str, Any] | None]:
    """The recipe on ``adata`` (in memory or backed; not modified), up to the contract loader."""
    obs = adata.obs
    layout, mapping = choose_source(spec, obs, source, columns, control, delimiter)
    use_template = bool(layout.context_template) and "context" not in (columns or {})
    log: list[dict[str, Any]] = [
        {"step": "read", "cells": int(adata.n_obs), "genes": int(adata.n_vars)}
    ]
    keep, labels, query_record = select_cells(
        obs,
        layout,
        mapping,
        obs_query=obs_query,
        dose=dose,
        use_template=use_template,
        log=log,
    )
    genes, var = select_genes(adata.var, layout, log)
    rows = np.flatnonzero(keep)
    matrix = read_matrix(adata.X, rows, genes, mito_mask(var.index), layout.qc, chunk_cells)
    log.extend(matrix.log)
    kept = matrix.kept_rows
    cells = obs.iloc[kept].copy()
    cells[mapping.perturbation] = pd.Categorical(labels.iloc[kept].to_numpy())
    context_key = mapping.context
    if use_template:
        cells[CONTEXT_COLUMN] = pd.Categorical(build_context(cells, str(layout.context_template)))
        context_key = CONTEXT_COLUMN
    elif context_key is None:
        cells[CONTEXT_COLUMN] = pd.Categorical([mapping.context_label] * len(cells))
        context_key = CONTEXT_COLUMN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # anndata: obs index conversions
        result = ad.AnnData(X=matrix.matrix, obs=cells, var=var)
    qc = layout.qc
    if qc.min_cells_per_gene:
        enough = matrix.cells_per_gene >= qc.min_cells_per_gene
        log.append(
            {
                "step": f"cells per gene >= {qc.min_cells_per_gene}",
                "genes_before": int(result.n_vars),
                "genes_after": int(enough.sum()),
                "dropped": int((~enough).sum()),
            }
        )
        if not enough.all():
            result = result[:, enough].copy()
    if qc.min_cells_per_condition:
        groups = [mapping.perturbation, context_key]
        sizes = result.obs.groupby(groups, observed=True)[mapping.perturbation].transform("size")
        is_control = result.obs[mapping.perturbation].astype(str).isin(mapping.control)
        mask = (sizes >= qc.min_cells_per_condition).to_numpy() | is_control.to_numpy()
        log.append(
            {
                "step": f"cells per condition >= {qc.min_cells_per_condition} (controls kept)",
                "cells_before": int(result.n_obs),
                "cells_after": int(mask.sum()),
                "dropped": int((~mask).sum()),
            }
        )
        if not mask.all():
            result = result[mask].copy()
    if result.n_obs == 0:
        raise DataContractError(
            f"No cells are left after the {spec.name} recipe ({layout.name}); steps: {log}. Check that "
            "the file is the right dataset and layout (--source), and the obs query."
        )
    result.uns["recipe_log"] = log
    result.uns["recipe_context_key"] = context_key
    return result, layout, mapping, query_record


def _standard_split(spec: DatasetSpec, layout: Source, prepared: ad.AnnData) -> dict[str, Any]:
    """The dataset's standard split as options of ``make_split`` (the held-out context's fold)."""
    split = spec.standard_split
    if split is None or layout.test_context is None:
        return {}
    perturbed = prepared.obs.loc[~prepared.obs[c.IS_CONTROL].to_numpy(), c.CONTEXT]
    contexts = sorted(perturbed.astype(str).unique())
    if layout.test_context not in contexts:
        raise DataContractError(
            f"The held-out context {layout.test_context!r} of {spec.name}'s standard split is not "
            f"among the prepared contexts {contexts}. Check the file's {layout.name} layout."
        )
    return {
        "scenario": split.scenario,
        "variant": split.variant,
        "fold": contexts.index(layout.test_context),
        "test_context": layout.test_context,
        **dict(split.options),
    }


def prepare_adata(
    adata: ad.AnnData,
    name: str,
    *,
    source: str | None = None,
    columns: Mapping[str, str | None] | None = None,
    control: Sequence[str] | None = None,
    delimiter: str | None = None,
    dose: str | None = None,
    obs_query: str | None = None,
    origin: str = "AnnData object",
    verification: dict[str, Any] | None = None,
    chunk_cells: int = CHUNK_CELLS,
) -> ad.AnnData:
    """Apply registry dataset ``name``'s recipe to ``adata`` (in memory or backed; not modified).

    Args:
        source: the source layout (default: detected from the columns and labels).
        columns: role -> obs column overrides, e.g. ``{"context": "replicate"}``.
        control: control label(s) overriding the layout's.
        delimiter: combination delimiter overriding the layout's (``""``: no combinations).
        dose: ``"all"``, ``"max"`` (each perturbation's highest dose) or a dose value; default:
            the layout's choice (sci-Plex 3: ``"max"``).
        obs_query: a pandas query on obs; only matching cells are prepared.
        verification: what was checked of the input file (recorded).
    """
    spec = get_spec(name)
    result, layout, mapping, query_record = _run_recipe(
        adata,
        spec,
        source=source,
        columns=columns,
        control=control,
        delimiter=delimiter,
        dose=dose,
        obs_query=obs_query,
        chunk_cells=chunk_cells,
    )
    log = result.uns.pop("recipe_log")
    context_key = result.uns.pop("recipe_context_key")
    prepared = load_dataset(
        result,
        perturbation_key=mapping.perturbation,
        context_key=context_key,
        control=list(mapping.control),
        dataset_key=mapping.dataset,
        dose_key=mapping.dose,
        dataset_name=spec.name,
        combination_delimiter=mapping.combination_delimiter,
    )
    del result
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
        "dose_selection": str(dose if dose is not None else layout.dose_selection),
        "verification": verification or {"checked": ["nothing: an AnnData object was given"]},
    }
    split = _standard_split(spec, layout, prepared)
    if split:
        record["registry"]["standard_split"] = split
    if query_record is not None:
        record["row_filters"] = {"00": query_record}
    record["recipe"] = {f"{i:02d}": step for i, step in enumerate(log)}
    record["fingerprint"] = fingerprint(prepared)
    return prepared


def _is_registry_file(path: Path, spec: DatasetSpec) -> bool:
    remote = spec.file
    if remote is None:
        return False
    return path.name == remote.filename or path.stat().st_size == remote.size_bytes


def input_file(
    spec: DatasetSpec,
    source_path: str | Path | None,
    *,
    cache_dir: str | Path | None,
    mirror: str | None,
    progress: bool,
    verify: bool | None,
) -> tuple[Path, dict[str, Any]]:
    """The file to prepare and what was verified of it.

    The cached download is re-verified (a download is verified as it lands). A local file is
    verified when ``verify`` is True, or when it is None and the file has the registry file's
    name or size; otherwise it is recorded as a local subset that was not verified.
    """
    if source_path is None:
        path = cached_file(spec, cache_dir)
        if path is not None:
            return path, verify_cached(spec, path)
        path = download(spec.name, cache_dir, mirror=mirror, progress=progress)
        return path, {"file": str(path), "checked": ["verified on download"]}
    path = Path(source_path)
    if not path.is_file():
        raise DatasetFileError(
            f"Dataset file not found: {path}. Check the path (it is relative to {Path.cwd()})."
        )
    if spec.file is not None and (verify or (verify is None and _is_registry_file(path, spec))):
        fix = (
            f"Use a complete, unmodified copy of {spec.file.filename} (fetch one with "
            f"`vcbench datasets download {spec.name}`), or pass --no-verify for a file you "
            "built from it."
        )
        return path, verify_file(path, spec.file, fix)
    if verify:
        raise DatasetFileError(
            f"{spec.name} has no registry file to verify {path} against ({spec.manual_download or ''}). "
            "Leave out --verify."
        )
    return path, {
        "file": str(path),
        "size_bytes": int(path.stat().st_size),
        "checked": ["nothing: a local file that is not the registry file (a subset)"],
    }


def open_backed(path: Path) -> ad.AnnData:
    """``path`` opened read-only in backed mode (obs and var in memory, X on disk)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", ad.OldFormatWarning)
            return ad.read_h5ad(path, backed="r")
    except Exception as exc:  # h5py/anndata raise many types for a wrong format
        raise DatasetFileError(
            f"{path} could not be read as an .h5ad (AnnData/HDF5) file: {type(exc).__name__}: "
            f"{exc}. Give an .h5ad file written by anndata."
        ) from exc


def prepare(
    name: str,
    source_path: str | Path | None = None,
    *,
    source: str | None = None,
    columns: Mapping[str, str | None] | None = None,
    control: Sequence[str] | None = None,
    delimiter: str | None = None,
    dose: str | None = None,
    obs_query: str | None = None,
    cache_dir: str | Path | None = None,
    out: str | Path | None = None,
    mirror: str | None = None,
    progress: bool = True,
    verify: bool | None = None,
    chunk_cells: int = CHUNK_CELLS,
) -> ad.AnnData:
    """Prepare registry dataset ``name`` into the contract form (downloading it unless given a file).

    The file is verified first (``input_file``), then read backed and in chunks of
    ``chunk_cells`` cells, so only the cells and genes the recipe keeps are held in memory.
    Other arguments as in ``prepare_adata``; ``out`` writes the prepared file there atomically.
    """
    spec = get_spec(name)
    path, verification = input_file(
        spec, source_path, cache_dir=cache_dir, mirror=mirror, progress=progress, verify=verify
    )
    backed = open_backed(path)
    try:
        prepared = prepare_adata(
            backed,
            name,
            source=source,
            columns=columns,
            control=control,
            delimiter=delimiter,
            dose=dose,
            obs_query=obs_query,
            origin=str(path),
            verification=verification,
            chunk_cells=chunk_cells,
        )
    finally:
        backed.file.close()
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
    "CONTEXT_COLUMN",
    "choose_source",
    "counts_of",
    "input_file",
    "open_backed",
    "override_columns",
    "prepare",
    "prepare_adata",
    "write_prepared",
]
