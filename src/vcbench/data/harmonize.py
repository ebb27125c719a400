"""Gene harmonisation of several datasets.

``harmonize_genes`` restricts several datasets to the genes they all measure, so that they can be
merged or a model trained on one can be applied to another.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data.contract import DATASET, UNS_KEY
from vcbench.errors import DataContractError


def harmonize_genes(
    adatas: Sequence[ad.AnnData], names: Sequence[str] | None = None
) -> list[ad.AnnData]:
    """Restrict every dataset to the genes that all of them measure, in the first one's order.

    Returns copies (the inputs are not changed). Each copy records in
    ``uns["vcbench"]["harmonized_genes"]`` the dataset names, how many genes each dataset had and
    lost, and the number of shared genes.

    Args:
        adatas: two or more AnnData objects with unique gene names.
        names: a name per dataset for messages and the record; by default the single value of
            ``obs["vcb_dataset"]`` when there is one, else ``"dataset #i"``.
    """
    adatas = list(adatas)
    if len(adatas) < 2:
        raise DataContractError(
            f"harmonize_genes needs at least 2 datasets, got {len(adatas)}. Pass a list of the "
            "datasets to harmonise (a single dataset needs no harmonisation)."
        )
    labels = dataset_names(adatas, names)
    for adata, label in zip(adatas, labels, strict=True):
        duplicated = adata.var_names[adata.var_names.duplicated()].unique()
        if len(duplicated):
            shown = ", ".join(map(repr, duplicated[:5].tolist()))
            raise DataContractError(
                f"Dataset {label!r} has {len(duplicated)} repeated gene names (e.g. {shown}), so "
                "its genes cannot be matched to other datasets. Make them unique "
                "(adata.var_names_make_unique()) or sum the repeated genes first."
            )

    first = adatas[0].var_names
    shared_mask = np.ones(len(first), dtype=bool)
    for adata in adatas[1:]:
        shared_mask &= first.isin(adata.var_names)
    shared = first[shared_mask]
    if len(shared) == 0:
        described = "; ".join(
            f"{label!r} ({a.n_vars} genes, e.g. {', '.join(map(str, a.var_names[:3]))})"
            for label, a in zip(labels, adatas, strict=True)
        )
        raise DataContractError(
            f"The datasets share no gene: {described}. Check that they use the same kind of gene "
            "identifiers (symbols vs Ensembl IDs) and the same species, and map them to a common "
            "naming before harmonising."
        )

    n_before = [int(a.n_vars) for a in adatas]
    n_lost = [n - len(shared) for n in n_before]
    record = {
        "datasets": list(labels),
        "n_genes_before": n_before,
        "n_genes_lost": n_lost,
        "n_shared": len(shared),
    }
    result = []
    for i, adata in enumerate(adatas):
        out = adata[:, shared].copy()
        uns = vcbench_record(out)
        uns["harmonized_genes"] = {**copy.deepcopy(record), "dataset": labels[i]}
        out.uns[UNS_KEY] = uns
        result.append(out)
    return result


def dataset_names(adatas: Sequence[ad.AnnData], names: Sequence[str] | None) -> list[str]:
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != len(adatas):
            raise DataContractError(
                f"{len(names)} names were given for {len(adatas)} datasets. Pass one name per "
                "dataset, or names=None."
            )
        return names
    labels = []
    for i, adata in enumerate(adatas):
        values = pd.unique(adata.obs[DATASET].astype(str)) if DATASET in adata.obs.columns else []
        labels.append(str(values[0]) if len(values) == 1 else f"dataset #{i}")
    return labels


def vcbench_record(adata: ad.AnnData) -> dict:
    """A private (deep-copied) dict of ``uns["vcbench"]``, empty when there is none."""
    existing = adata.uns.get(UNS_KEY, {})
    return copy.deepcopy(dict(existing)) if isinstance(existing, dict) else {}
