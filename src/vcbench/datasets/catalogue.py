"""The registry as a table, and ``resolve_dataset`` for runners: a name or a path in, contract form out."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import pandas as pd

from vcbench.data import contract as c
from vcbench.data.fingerprint import fingerprint
from vcbench.data.loader import read_h5ad
from vcbench.datasets.fetch import cached_file, prepared_dir
from vcbench.datasets.recipes import prepare, write_prepared
from vcbench.datasets.registry import REGISTRY, DatasetSpec, get_spec
from vcbench.errors import DataContractError


def _count(value: int | None, approximate: bool) -> str:
    if value is None:
        return "?"
    return f"{'~' if approximate else ''}{value:,}"


def _size(spec: DatasetSpec) -> str:
    if spec.size:
        return spec.size
    if spec.file is not None and spec.file.size_bytes:
        return f"{spec.file.size_bytes / 1e6:,.0f} MB"
    return "?"


def _cached(spec: DatasetSpec, cache_dir: str | Path | None) -> str:
    if spec.file is None:
        return "manual"
    return "yes" if cached_file(spec, cache_dir) is not None else "no"


def list_datasets(cache_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per registry dataset: name, perturbation type, counts, size, licence, cached or not.

    Counts describe the full upstream dataset as published (``~`` rounded, ``?`` not verified here).
    """
    rows = [
        {
            "name": spec.name,
            "perturbation type": spec.perturbation_type,
            "cells": _count(spec.n_cells, spec.counts_approximate),
            "perturbations": _count(spec.n_perturbations, spec.counts_approximate),
            "contexts": _count(spec.n_contexts, False),
            "size": _size(spec),
            "licence": spec.licence,
            "cached": _cached(spec, cache_dir),
        }
        for spec in REGISTRY.values()
    ]
    return pd.DataFrame(rows)


def _check_fingerprint(adata: ad.AnnData) -> bool:
    recorded = adata.uns.get(c.UNS_KEY, {}).get("fingerprint")
    return recorded is None or str(recorded) == fingerprint(adata)


def resolve_dataset(name_or_path: str | Path, cache_dir: str | Path | None = None) -> ad.AnnData:
    """A dataset in the contract form, from a registry name or a prepared ``.h5ad`` path.

    A name is prepared once (downloading the file if it is not cached) and kept in the cache's
    ``prepared/`` folder; a later call reads it back after checking its fingerprint. A path must be
    a prepared file (``vcbench datasets prepare``) whose fingerprint, when recorded, still matches.
    """
    text = str(name_or_path)
    if text.lower() in REGISTRY and not Path(text).exists():
        spec = get_spec(text)
        path = prepared_dir(cache_dir) / f"{spec.name}.h5ad"
        if path.is_file():
            adata = read_h5ad(path)
            if c.is_standardised(adata) and _check_fingerprint(adata):
                return adata
        adata = prepare(spec.name, cache_dir=cache_dir)
        write_prepared(adata, path)
        return adata
    path = Path(text)
    if not path.exists() and path.suffix != ".h5ad":
        get_spec(text)  # raises: neither a registry name nor a file
    adata = read_h5ad(path)
    if not c.is_standardised(adata):
        raise DataContractError(
            f"{path} is not in the vcbench contract form (no uns['vcbench'] record and standard obs "
            "columns). Prepare it first: `vcbench datasets prepare NAME --from "
            f"{path} --out FILE.h5ad`, or load it with vcbench.data.load_dataset(...)."
        )
    if not _check_fingerprint(adata):
        raise DataContractError(
            f"{path} was changed after it was prepared: its content no longer matches the fingerprint "
            "recorded in uns['vcbench']['fingerprint']. Prepare it again from the source file."
        )
    return adata
