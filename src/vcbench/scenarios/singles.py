"""Unseen single perturbations (docs/scenarios.md, "Unseen perturbation", ``single`` and its ``strict`` variant).

- ``single`` (standard): within each context, the single perturbations (sorted, then shuffled with
  the seed) are dealt into ``n_folds`` folds in turn; fold ``fold`` is the test set of that context.
- ``strict``: each single perturbation is embedded by its real effect, the centroid delta (mean
  expression of its cells minus the mean of the same context's controls, averaged over the
  contexts where it occurs); the effects are clustered hierarchically (average linkage) and whole
  clusters are held out, coarsest cut first, until ``round(test_fraction · n)`` perturbations are
  held out (``vcbench.scenarios.build.cluster_holdout``). A held-out perturbation is tested in every
  context and occurs in no training perturbation in any context.

``val_fraction`` of the remaining single perturbations (per context for ``single``, overall for
``strict``) are ``val``. Controls are ``train`` (and the query inputs). Combinations are
``unused``, since a combination with a held-out gene would show its effect. Categories:
``single_unseen`` for a perturbation trained in no context; ``single_unseen_in_context`` (``single``
on multi-context data only) for one held out of its context but trained in another
(docs/validity.md).
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.data.fingerprint import fingerprint
from vcbench.errors import ScenarioError
from vcbench.scenarios.build import (
    choose,
    cluster_holdout,
    condition_table,
    group_means,
    n_held_out,
    roles,
)
from vcbench.scenarios.leakage import check_targets_unseen, finalise
from vcbench.scenarios.split import Split

VARIANTS = ("single", "strict")
CATEGORIES = ("single_unseen", "single_unseen_in_context")


def single_split(
    adata: ad.AnnData,
    variant: str = "single",
    *,
    n_folds: int = 5,
    fold: int = 0,
    test_fraction: float = 0.25,
    val_fraction: float = 0.0,
    seed: int = 0,
) -> Split:
    """Hold out single perturbations (definitions in the module doc)."""
    if variant not in VARIANTS:
        raise ScenarioError(f"Unknown single-perturbation variant {variant!r}; choose {VARIANTS}.")
    if not 0 <= val_fraction < 1:
        raise ScenarioError(f"val_fraction must be in [0, 1), got {val_fraction}.")
    obs = adata.obs
    context = obs[c.CONTEXT].astype(str).to_numpy()
    perturbation = obs[c.PERTURBATION].astype(str).to_numpy()
    control = obs[c.IS_CONTROL].to_numpy()
    single = (obs[c.N_TARGETS] == 1).to_numpy()
    pairs = pd.DataFrame({"context": context[single], "label": perturbation[single]})
    pairs = pairs.drop_duplicates().sort_values(["context", "label"])
    if pairs["label"].nunique() < 2:
        raise ScenarioError(
            f"The single-perturbation scenario needs at least 2 single perturbations; the data "
            f"has {pairs['label'].nunique()}. Check perturbation_key= and the control label."
        )
    # folds and validation draw from separate streams, so the folds of a seed partition the singles
    rng, val_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    role = np.where(control, "train", "unused").astype(object)
    params: dict = {"val_fraction": val_fraction}
    info: dict = {}
    if variant == "single":
        if n_folds < 2 or not 0 <= fold < n_folds:
            raise ScenarioError(
                f"n_folds must be at least 2 and fold in [0, n_folds); got n_folds={n_folds}, "
                f"fold={fold}."
            )
        params.update(n_folds=n_folds, fold=fold)
        held: dict[str, list[str]] = {}
        for name, group in pairs.groupby("context", sort=True):
            labels = rng.permutation(group["label"].to_numpy())
            test = sorted(labels[np.arange(labels.size) % n_folds == fold].tolist())
            rest = sorted(set(labels) - set(test))
            val = choose(val_rng, rest, int(val_fraction * len(rest)))
            here = context == name
            role[here & single & np.isin(perturbation, rest)] = "train"
            role[here & single & np.isin(perturbation, val)] = "val"
            role[here & single & np.isin(perturbation, test)] = "test"
            if test:
                held[str(name)] = test
        if not held:
            raise ScenarioError(
                f"Fold {fold} of {n_folds} holds out no perturbation: every context has at most "
                f"{int(pairs.groupby('context').size().max())} single perturbations. Use fewer "
                "folds (n_folds=)."
            )
        info["held_out"] = held
    else:
        labels = sorted(pairs["label"].unique())
        n_test = n_held_out(test_fraction, len(labels), "perturbations")
        effects = perturbation_effects(adata, labels)
        test = cluster_holdout(effects, labels, n_test, rng)
        rest = sorted(set(labels) - set(test))
        val = choose(val_rng, rest, int(val_fraction * len(rest)))
        role[single & np.isin(perturbation, rest)] = "train"
        role[single & np.isin(perturbation, val)] = "val"
        role[single & np.isin(perturbation, test)] = "test"
        params["test_fraction"] = test_fraction
        info["held_out"] = {"all": test}

    trained = np.unique(perturbation[np.isin(role, ["train", "val"]) & single])
    category = np.where(np.isin(perturbation, trained), CATEGORIES[1], CATEGORIES[0]).astype(object)
    split = Split(
        scenario="perturbation",
        variant=variant,
        params=params,
        seed=seed,
        fingerprint=fingerprint(adata),
        assignment=roles(obs.index, role),
        test_conditions=condition_table(adata, role == "test", category, CATEGORIES),
        info=info,
    )
    return finalise(adata, split)


def perturbation_effects(adata: ad.AnnData, labels: list[str]) -> np.ndarray:
    """Centroid delta of each label (rows in ``labels`` order): its cells' mean minus its context's
    control mean, averaged over the contexts where it occurs."""
    obs = adata.obs
    context = obs[c.CONTEXT].astype(str).to_numpy()
    perturbation = obs[c.PERTURBATION].astype(str).to_numpy()
    control = obs[c.IS_CONTROL].to_numpy()
    contexts = sorted(set(context))
    context_codes = pd.Categorical(context, categories=contexts).codes.astype(np.int64)
    control_means = group_means(
        adata.X[control], context_codes[control], len(contexts)
    )  # (contexts, genes)
    keep = np.isin(perturbation, labels) & ~control
    pair = pd.MultiIndex.from_arrays([perturbation[keep], context_codes[keep]])
    unique_pairs = pair.unique().sort_values()
    codes = unique_pairs.get_indexer(pair).astype(np.int64)
    deltas = group_means(adata.X[keep], codes, len(unique_pairs))
    deltas -= control_means[unique_pairs.get_level_values(1).to_numpy()]
    label_codes = pd.Categorical(unique_pairs.get_level_values(0), categories=labels).codes
    return group_means(deltas, label_codes.astype(np.int64), len(labels))


def check_single_rules(adata: ad.AnnData, split: Split) -> None:
    """Error when a held-out gene occurs in a train/val perturbation: of the same context
    (``single``) or of any context (``strict``)."""
    held = split.test_conditions[c.PERTURBATION].astype(str).unique().tolist()
    check_targets_unseen(
        adata, split, held, per_context=split.variant != "strict", what="perturbation"
    )
    unseen = split.test_conditions.loc[
        split.test_conditions["split_category"].astype(str) == CATEGORIES[0], c.PERTURBATION
    ].astype(str)
    check_targets_unseen(
        adata, split, unseen.unique().tolist(), per_context=False, what="perturbation"
    )
