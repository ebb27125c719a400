"""Cross-dataset generalisation and dataset merging (docs/scenarios.md, "Cross-dataset").

The input is one standardised AnnData with two or more values of ``vcb_dataset`` (for separate
files, ``combine_datasets`` harmonises their genes and concatenates them). One dataset is the
``target``; the others are sources. A *shared* perturbation is a perturbation label with perturbed
cells in the target and in a source. ``round(test_fraction · n_shared)`` shared perturbations (at
least 1) are held out at random; their perturbed cells in the target are the test set, the same
for every variant of a seed:

- ``single``: train on the rest of the target (its controls and other perturbations); sources unused.
- ``merged``: ``single``'s training cells plus every cell of every source.
- ``transfer``: train on the sources only; the target's controls are query inputs (``test``), its
  other perturbed cells ``unused``.

Target perturbed cells of a combination with a held-out gene are ``unused`` (they would show its
effect). Categories: ``single_unseen`` and ``combo_unseen``.

Options, each recorded in the split's parameters:

- ``count_scaling`` (``None``, ``"downsample"``, ``"scale"``): before normalisation, bring the
  datasets' median total counts to a common value with ``vcbench.data.preprocess.scale_counts``
  (needs raw counts, ``layers["counts"]``, in every dataset). The scaled data is what a model sees:
  ``prepare(adata, split)`` recomputes it (deterministic given the seed).
- ``hvg`` (``"merge_before"``, ``"merge_after"``, ``None``): ``n_top_genes`` highly variable genes
  (``select_hvgs``, ``seurat`` flavour, measured perturbed genes kept) selected on the *training
  cells only*: of the concatenated data (``merge_before``), or per dataset and united
  (``merge_after``); ``None`` keeps every gene. Each dataset's own HVG set (on its training cells)
  and their overlap are reported in ``info["hvg_overlap"]``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.data.fingerprint import fingerprint
from vcbench.data.harmonize import dataset_names, harmonize_genes
from vcbench.data.hvg import select_hvgs
from vcbench.data.preprocess import scale_counts
from vcbench.errors import ScenarioError
from vcbench.scenarios.build import choose, condition_table, roles
from vcbench.scenarios.leakage import finalise, seen_targets
from vcbench.scenarios.split import Split

VARIANTS = ("single", "merged", "transfer")
HVG_MODES = ("merge_before", "merge_after")
COUNT_SCALING = ("downsample", "scale")
CATEGORIES = ("single_unseen", "combo_unseen")


def combine_datasets(
    adatas: Sequence[ad.AnnData], names: Sequence[str] | None = None
) -> ad.AnnData:
    """One AnnData from several standardised datasets: their shared genes, ``vcb_dataset`` set to
    each dataset's name (``names``, or its single ``vcb_dataset`` value). Cell names that repeat
    across datasets become ``<dataset>:<name>``."""
    adatas = list(adatas)
    labels = dataset_names(adatas, names)
    if len(set(labels)) != len(labels):
        raise ScenarioError(f"The datasets need distinct names, got {labels}. Pass names=.")
    parts = []
    for adata, label in zip(harmonize_genes(adatas, names=labels), labels, strict=True):
        adata.obs[c.DATASET] = label
        parts.append(adata)
    combined = ad.concat(parts, join="inner", merge="same")
    if combined.obs_names.has_duplicates:
        combined.obs_names = pd.Index(
            combined.obs[c.DATASET].astype(str) + ":" + combined.obs_names.astype(str)
        )
    for column in (c.PERTURBATION, c.CONTEXT, c.DATASET):
        combined.obs[column] = pd.Categorical(combined.obs[column].astype(str))
    combined.uns[c.UNS_KEY] = {"combined_datasets": labels}
    return combined


def cross_dataset_split(
    adata: ad.AnnData,
    variant: str = "single",
    *,
    target: str | None = None,
    test_fraction: float = 0.25,
    hvg: str | None = "merge_before",
    n_top_genes: int = 2000,
    count_scaling: str | None = None,
    seed: int = 0,
) -> Split:
    """A cross-dataset split of combined datasets (definitions in the module doc)."""
    if variant not in VARIANTS:
        raise ScenarioError(f"Unknown cross-dataset variant {variant!r}; choose one of {VARIANTS}.")
    hvg = None if hvg in (None, "none") else hvg
    if hvg is not None and hvg not in HVG_MODES:
        raise ScenarioError(f"hvg must be one of {HVG_MODES} or None, got {hvg!r}.")
    if count_scaling is not None and count_scaling not in COUNT_SCALING:
        raise ScenarioError(f"count_scaling must be one of {COUNT_SCALING} or None.")
    if not 0 < test_fraction <= 1:
        raise ScenarioError(f"test_fraction must be in (0, 1], got {test_fraction}.")
    obs = adata.obs
    dataset = obs[c.DATASET].astype(str).to_numpy()
    datasets = sorted(set(dataset))
    if len(datasets) < 2:
        raise ScenarioError(
            f"The cross-dataset scenario needs 2 or more datasets; the data has {datasets}. Load "
            "one file with dataset_key= naming the dataset column, or combine several files "
            "(vcbench.scenarios.combine_datasets)."
        )
    if target not in datasets:
        raise ScenarioError(
            f"target={target!r} is not a dataset of this data; pass target= naming one of "
            f"{datasets}."
        )
    contexts = pd.DataFrame({"dataset": dataset, "context": obs[c.CONTEXT].astype(str).to_numpy()})
    per_context = contexts.drop_duplicates().groupby("context")["dataset"].nunique()
    if (per_context > 1).any():
        raise ScenarioError(
            f"Contexts {sorted(per_context.index[per_context > 1])} occur in more than one "
            "dataset, so their control cells could not be told apart. Give each dataset's "
            "contexts distinct names (e.g. '<dataset>:<cell line>') before splitting."
        )
    control = obs[c.IS_CONTROL].to_numpy()
    label = obs[c.PERTURBATION].astype(str).to_numpy()
    in_target = dataset == target
    shared = sorted(set(label[in_target & ~control]) & set(label[~in_target & ~control]))
    if not shared:
        raise ScenarioError(
            f"The target {target!r} shares no perturbation with the other datasets (target "
            f"e.g. {sorted(set(label[in_target & ~control]))[:5]}, others e.g. "
            f"{sorted(set(label[~in_target & ~control]))[:5]}). Harmonise the perturbation labels "
            "(same gene or compound names) first."
        )
    rng = np.random.default_rng(seed)
    test = choose(rng, shared, min(max(1, round(test_fraction * len(shared))), len(shared)))
    held_genes = {g for t in test for g in t.split(c.COMBINATION_DELIMITER)}
    targets = obs[c.TARGETS].astype(str).str.split(c.COMBINATION_DELIMITER).explode()
    touches = targets.isin(held_genes).groupby(level=0, sort=False).any().reindex(obs.index)
    touches = touches.to_numpy(dtype=bool) & ~control

    role = np.full(len(obs), "unused", dtype=object)
    if variant in ("single", "merged"):
        role[in_target & ~touches] = "train"
    else:
        role[in_target & control] = "test"
    if variant in ("merged", "transfer"):
        role[~in_target] = "train"
    test_cells = in_target & ~control & np.isin(label, test)
    role[test_cells] = "test"
    n_targets = obs[c.N_TARGETS].to_numpy()
    category = np.where(n_targets >= 2, CATEGORIES[1], CATEGORIES[0])
    params: dict[str, Any] = {
        "target": target,
        "test_fraction": test_fraction,
        "hvg": hvg,
        "n_top_genes": n_top_genes,
        "count_scaling": count_scaling,
    }
    split = Split(
        scenario="cross_dataset",
        variant=variant,
        params=params,
        seed=seed,
        fingerprint=fingerprint(adata),
        assignment=roles(obs.index, role),
        test_conditions=condition_table(adata, test_cells, category, CATEGORIES),
        info={"datasets": datasets, "shared_perturbations": shared, "held_out": test},
    )
    data = model_data(adata, split)
    genes, overlap = select_split_genes(data, split)
    info = {**split.info, "hvg_overlap": overlap, "n_genes": len(genes)}
    split = dataclasses.replace(split, genes=tuple(genes) if hvg else None, info=info)
    return finalise(adata, split, measured_on=data)


def model_data(adata: ad.AnnData, split: Split) -> ad.AnnData:
    """The data as a model sees it: ``adata`` after the split's count scaling (if any)."""
    method = split.params.get("count_scaling")
    if not method:
        return adata
    dataset = adata.obs[c.DATASET].astype(str)
    names = sorted(dataset.unique())
    if c.COUNTS_LAYER not in adata.layers:
        raise ScenarioError(
            f"count_scaling needs raw counts (layers['counts']) in every dataset, but the data of "
            f"datasets {names} has none (a dataset whose X was log-normalised on input has no "
            "counts). Load the datasets' raw-count files, or run without count_scaling."
        )
    parts = [adata[(dataset == n).to_numpy()].copy() for n in names]
    scaled = scale_counts(parts, method=method, seed=split.seed, names=names)
    return ad.concat(scaled, merge="same")[adata.obs_names].copy()


def select_split_genes(data: ad.AnnData, split: Split) -> tuple[list[str], dict[str, Any]]:
    """The genes of the split (definitions in the module doc) and the per-dataset HVG overlap."""
    params = split.params
    train = split.mask(data, "train")
    dataset = data.obs[c.DATASET].astype(str).to_numpy()
    n_top = int(params["n_top_genes"])
    per_dataset: dict[str, list[str]] = {}
    for name in sorted(set(dataset)):
        here = dataset == name
        if (train & here).any():
            part = data[here]
            per_dataset[name] = list(select_hvgs(part, n_top, cells=train[here]))
    sets = [set(v) for v in per_dataset.values()]
    shared = set.intersection(*sets) if sets else set()
    union = set.union(*sets) if sets else set()
    overlap = {
        "n_hvgs": {k: len(v) for k, v in per_dataset.items()},
        "no_training_cells": sorted(set(dataset) - set(per_dataset)),
        "n_shared": len(shared),
        "n_union": len(union),
        "jaccard": len(shared) / len(union) if len(sets) >= 2 and union else None,
    }
    if params["hvg"] == "merge_before":
        genes = list(select_hvgs(data, n_top, cells=train))
    elif params["hvg"] == "merge_after":
        genes = [g for g in data.var_names if g in union]
    else:
        genes = list(data.var_names)
    return genes, overlap


def prepare(adata: ad.AnnData, split: Split) -> ad.AnnData:
    """The data a model of this split uses: count-scaled as the split says, restricted to its genes."""
    data = model_data(adata, split)
    return data if split.genes is None else data[:, list(split.genes)].copy()


def check_cross_dataset_rules(adata: ad.AnnData, split: Split) -> None:
    """Error when a held-out gene occurs in the target's training perturbations, when the sets
    break the variant's rule, or when the genes differ from those selected on training cells."""
    target = split.params["target"]
    dataset = adata.obs[c.DATASET].astype(str).to_numpy()
    in_target = dataset == target
    seen_sets = split.mask(adata, "train") | split.mask(adata, "val")
    held = {
        g
        for t in split.test_conditions[c.PERTURBATION].astype(str)
        for g in t.split(c.COMBINATION_DELIMITER)
    }
    seen = seen_targets(adata, seen_sets & in_target)
    if seen["target"].isin(held).any():
        raise ScenarioError(
            "Leakage: a held-out perturbation of the target occurs in its training perturbations."
        )
    train = split.mask(adata, "train")
    rule = {
        "single": not train[~in_target].any(),
        "merged": train[~in_target].all(),
        "transfer": not train[in_target].any() and train[~in_target].all(),
    }[split.variant]
    if not rule:
        raise ScenarioError(
            f"Leakage: the training cells break the rule of the {split.variant!r} variant."
        )
    if split.params.get("hvg"):
        genes, _ = select_split_genes(model_data(adata, split), split)
        if split.genes is None or list(split.genes) != genes:
            raise ScenarioError(
                "Leakage: the split's genes are not the genes selected on its training cells."
            )
