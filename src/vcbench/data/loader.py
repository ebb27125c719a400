"""Load a dataset into the data contract's standard form, validating it on the way.

See ``vcbench.data.contract`` for the standard form. Every problem the loader finds raises one
``DataContractError`` (or ``DatasetFileError`` for the file itself) that names the problem and the fix.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.data.h5ad_file import H5adFile, is_anndata, open_h5ad
from vcbench.data.labels import check_labels_present, control_suggestions, parse_labels
from vcbench.data.matrix_checks import (
    check_finite_non_negative,
    check_not_empty,
    check_unique_cells,
    check_unique_genes,
)
from vcbench.data.normalization import XKind, detect_x_kind, to_standard_form
from vcbench.data.target_names import smiles_record, target_gene_record
from vcbench.errors import DataContractError, DatasetFileError

if TYPE_CHECKING:
    import anndata as ad


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DatasetFileError(
            f"Dataset file not found: {path}. Check the path (it is relative to {Path.cwd()})."
        )
    if path.is_dir():
        raise DatasetFileError(
            f"{path} is a directory, not an .h5ad file. Give the path of the .h5ad file inside it."
        )


def _unreadable(path: Path, exc: Exception) -> DatasetFileError:
    return DatasetFileError(
        f"{path} could not be read as an .h5ad (AnnData/HDF5) file (it is another format, or "
        f"it is damaged or truncated): {type(exc).__name__}: {exc}. Give an intact .h5ad file "
        "written by anndata (convert other formats with anndata or scanpy first)."
    )


def read_h5ad(path: str | Path, *, backed: bool = False) -> ad.AnnData:
    """Read an ``.h5ad`` file, with clear errors for a missing file or one that is not h5ad.

    ``backed=True`` opens it read-only in backed mode: obs, var and uns are read, X stays in the
    file and is read where it is indexed.
    """
    import anndata as ad

    path = Path(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():
            # old files (e.g. the Kang scGen file) warn about their legacy encoding; harmless here
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", ad.OldFormatWarning)
            return ad.read_h5ad(path, backed="r") if backed else ad.read_h5ad(path)
    except Exception as exc:  # h5py/anndata raise many types for a wrong format
        raise _unreadable(path, exc) from exc


def read_h5ad_light(
    path: str | Path, *, backed: bool = True, uns_keys: Sequence[str] = ()
) -> H5adFile | ad.AnnData:
    """``read_h5ad`` without importing anndata where the file's layout allows it.

    An ``H5adFile`` (``vcbench.data.h5ad_file``: obs, var, the ``uns_keys`` entries of uns, and
    X, left in the file when ``backed``); an AnnData (``read_h5ad``) for a layout that reader does
    not read (e.g. an old anndata format or a CSC X). The same errors as ``read_h5ad``.
    """
    path = Path(path)
    _check_file(path)
    try:
        light = open_h5ad(path, backed=backed, uns_keys=uns_keys)
    except Exception as exc:  # h5py raises OSError for a file that is not HDF5
        raise _unreadable(path, exc) from exc
    return light if light is not None else read_h5ad(path, backed=backed)


def _require_columns(obs: pd.DataFrame, keys: dict[str, str | None]) -> None:
    for role, key in keys.items():
        if key is not None and key not in obs.columns:
            available = ", ".join(map(repr, obs.columns)) or "(none)"
            raise DataContractError(
                f"The {role} column obs[{key!r}] does not exist. Available obs columns: {available}. "
                f"Pass {role}_key= naming the right column."
            )


def _check_controls(
    parsed: pd.DataFrame, raw_labels: pd.Series, controls: Sequence[str], key: str
) -> None:
    if (parsed["n_targets"] == 0).any():
        return
    counts = raw_labels.astype(str).value_counts()
    suggestions = control_suggestions(counts.index)
    hint = f" Labels that look like controls: {suggestions}." if suggestions else ""
    raise DataContractError(
        f"No control cells: no cell of obs[{key!r}] is labelled {list(controls)}. "
        f"Most frequent labels: {list(counts.index[:8])}.{hint} Pass control= naming the control label(s)."
    )


def _check_controls_per_context(obs: pd.DataFrame) -> None:
    has_control = obs.groupby([c.DATASET, c.CONTEXT], observed=True)[c.IS_CONTROL].any()
    missing = has_control[~has_control]
    if len(missing):
        names = [f"{ctx} (dataset {ds})" for ds, ctx in missing.index[:10]]
        raise DataContractError(
            f"{len(missing)} context(s) have perturbed cells but no control cells: {', '.join(names)}. "
            "Effects are measured against the real controls of the same context: drop these contexts' "
            "cells or add their control cells."
        )


def _context_labels(obs: pd.DataFrame, key: str | None, default: str) -> pd.Series:
    if key is None:
        return pd.Series(default, index=obs.index)
    check_labels_present(obs[key], key)
    return obs[key].astype(str).str.strip()


def load_dataset(
    path_or_adata: str | Path | ad.AnnData,
    perturbation_key: str = "condition",
    context_key: str | None = "cell_type",
    control: str | Sequence[str] = c.CONTROL,
    dataset_key: str | None = None,
    dose_key: str | None = None,
    *,
    dataset_name: str | None = None,
    combination_delimiter: str | None = c.COMBINATION_DELIMITER,
    x_kind: XKind = "auto",
    layer: str | None = None,
    backed: bool = False,
    harmonize_targets: bool = True,
) -> ad.AnnData | H5adFile:
    """Validate a dataset and return it in the contract's standard form (a new AnnData).

    Args:
        path_or_adata: an ``.h5ad`` path or an AnnData (not modified).
        perturbation_key: obs column with the perturbation label of each cell.
        context_key: obs column with the cell context (cell type/line, donor); None = one context.
        control: the control label(s) in ``perturbation_key``.
        dataset_key: obs column naming each cell's dataset; None = one dataset called
            ``dataset_name`` (default: the file's stem, or ``"dataset"``).
        dose_key: obs column with the dose, kept as a string in ``vcb_dose``.
        combination_delimiter: separator of combination parts; None = no combinations.
        x_kind: ``"auto"`` detects raw counts (integers) vs log-normalised values; or force one.
        layer: take expression from this layer instead of X.
        backed: open a path in backed mode: X stays in the file, its checks read it in chunks, and
            it is read where it is indexed (``evaluate`` reads it condition by condition), so memory
            does not grow with the number of cells. X must then be log-normalised already; a file
            of raw counts is read into memory to be normalised. The result is then an
            ``H5adFile`` (obs, var and X read with h5py, without importing anndata) where the
            file's layout allows (``vcbench.data.h5ad_file``), else a backed AnnData.
        harmonize_targets: record (and warn about) the perturbation targets' current gene symbols
            in ``uns["vcbench"]["target_genes"]``; False skips it (building the symbol tables costs
            ~190 MiB and ~1 s, which scoring does not need).
    """
    if backed and (is_anndata(path_or_adata) or layer is not None):
        raise DataContractError(
            "backed=True reads X from an .h5ad path; it cannot be combined with an AnnData object "
            "or with layer=. Pass the file's path and no layer, or backed=False."
        )
    if is_anndata(path_or_adata):
        adata = path_or_adata.copy()  # type: ignore[union-attr]
        source = "AnnData object"
        default_name = dataset_name or "dataset"
    else:
        # backed: obs and var read with h5py alone where the layout allows (no anndata import)
        adata = read_h5ad_light(path_or_adata) if backed else read_h5ad(path_or_adata)
        source = str(path_or_adata)
        default_name = dataset_name or Path(path_or_adata).stem
    if layer is not None:
        if layer not in adata.layers:
            raise DataContractError(
                f"Layer {layer!r} does not exist; layers: {list(adata.layers)}. Pass layer= naming one of them, or None for X."
            )
        adata.X = adata.layers[layer].copy()
    controls = [control] if isinstance(control, str) else list(control)

    check_not_empty(adata)
    check_unique_genes(adata)
    check_unique_cells(adata)
    check_finite_non_negative(adata)
    obs = adata.obs
    _require_columns(
        obs,
        {
            "perturbation": perturbation_key,
            "context": context_key,
            "dataset": dataset_key,
            "dose": dose_key,
        },
    )

    parsed = parse_labels(obs[perturbation_key], controls, combination_delimiter, perturbation_key)
    _check_controls(parsed, obs[perturbation_key], controls, perturbation_key)
    standard = pd.DataFrame(
        {
            c.PERTURBATION: pd.Categorical(parsed["condition"]),
            c.CONTEXT: pd.Categorical(_context_labels(obs, context_key, "all")),
            c.DATASET: pd.Categorical(_context_labels(obs, dataset_key, default_name)),
            c.IS_CONTROL: (parsed["n_targets"] == 0).to_numpy(),
            c.TARGETS: parsed["targets"].to_numpy(),
            c.N_TARGETS: parsed["n_targets"].to_numpy(),
        },
        index=obs.index,
    )
    if dose_key is not None:
        standard[c.DOSE] = obs[dose_key].astype("string").fillna("").astype(str).to_numpy()
    _check_controls_per_context(standard)

    detected = detect_x_kind(adata.X)  # one chunked pass over X, backed or not
    if adata.isbacked and detected == "counts" and x_kind != "log":  # normalised in memory
        adata = read_h5ad(path_or_adata) if isinstance(adata, H5adFile) else adata.to_memory()
    record = to_standard_form(adata, x_kind, detected=detected)
    for column in standard.columns:
        adata.obs[column] = standard[column]
    adata.uns[c.UNS_KEY] = {
        "perturbation_key": perturbation_key,
        "context_key": context_key or "",
        "dataset_key": dataset_key or "",
        "dose_key": dose_key or "",
        "control": np.array(controls, dtype=object),
        "combination_delimiter": combination_delimiter or "",
        "source": source,
        **record,
        **(
            {"target_genes": target_gene_record(standard[c.TARGETS], c.COMBINATION_DELIMITER)}
            if harmonize_targets
            else {}
        ),
        **smiles_record(obs, standard[c.TARGETS].to_numpy(), standard[c.N_TARGETS].to_numpy()),
    }
    return adata
