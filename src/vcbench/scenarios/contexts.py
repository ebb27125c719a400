"""Unseen cell context (docs/scenarios.md, "Unseen cell context"): hold out whole contexts.

Contexts are the values of ``vcb_context``: cell types, cell lines, donors or patients (load the
data with ``context_key="donor"`` to hold out donors). Only contexts with perturbed cells take part
(``contexts=`` restricts them further; cells of other contexts are then ``unused``). Variants:

- ``random``: ``round(test_fraction · n)`` contexts (at least 1, at most n − 1), drawn at random.
- ``strict``: each context is embedded by the mean of its control cells in a PCA space (50
  components) fitted on the control cells of all taking-part contexts, or in ``obsm[embedding]``;
  the embeddings are clustered hierarchically (average linkage), and at the coarsest cut where
  whole clusters make up exactly the same number of contexts as ``random`` holds out, every such
  union of clusters is a valid held-out set (``vcbench.scenarios.build.cluster_holdout_sets``).
  Seed ``s`` takes the ``s mod m``-th of the ``m`` valid sets (sorted), so consecutive seeds hold
  out different sets wherever ``m > 1``. ``info`` records ``strict_sets`` (``m``), ``strict_cut``
  (the cut's number of clusters) and ``strict_note``; with ``m = 1`` a ``StrictSplitWarning`` says
  that every seed holds out the same contexts. Needs at least 3 contexts.
- ``leave_one_out``: fold ``fold`` holds out the ``fold``-th context in sorted order
  (``info["n_folds"]`` folds).
- ``few_shot``: like ``random``, then ``n_shots`` perturbations of each test context (drawn at
  random) move to training.

Cells: every cell of a training context is ``train``; ``val_fraction`` of the training contexts
(whole contexts) are ``val``. The perturbed cells of a test context are ``test``. Its control cells
are query inputs and the metric reference: they are ``test`` by default, so a model never fits on
any cell of a held-out context (``test_controls="train"`` lets it fit on them, as scGen and CPA do
on Kang PBMC). Categories: ``unseen_context`` (the perturbation occurs in training in another
context) and ``unseen_context_unseen_perturbation`` (it occurs nowhere in training).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.data.fingerprint import fingerprint
from vcbench.errors import ScenarioError
from vcbench.scenarios.build import (
    choose,
    cluster_holdout_sets,
    condition_table,
    fit_pca,
    group_means,
    n_held_out,
    project,
    roles,
)
from vcbench.scenarios.leakage import finalise
from vcbench.scenarios.split import Split

VARIANTS = ("random", "strict", "leave_one_out", "few_shot")
CATEGORIES = ("unseen_context", "unseen_context_unseen_perturbation")


def context_split(
    adata: ad.AnnData,
    variant: str = "random",
    *,
    test_fraction: float = 0.25,
    fold: int = 0,
    n_shots: int = 1,
    embedding: str | None = None,
    contexts: Sequence[str] | None = None,
    val_fraction: float = 0.0,
    test_controls: Literal["test", "train"] = "test",
    seed: int = 0,
) -> Split:
    """Hold out whole contexts of a standardised dataset (definitions in the module doc)."""
    if variant not in VARIANTS:
        raise ScenarioError(f"Unknown context variant {variant!r}; choose one of {VARIANTS}.")
    if test_controls not in ("test", "train"):
        raise ScenarioError(f"test_controls must be 'test' or 'train', got {test_controls!r}.")
    if not 0 <= val_fraction < 1:
        raise ScenarioError(f"val_fraction must be in [0, 1), got {val_fraction}.")
    obs = adata.obs
    context = obs[c.CONTEXT].astype(str).to_numpy()
    control = obs[c.IS_CONTROL].to_numpy()
    with_perturbed = sorted(set(context[~control]))
    if contexts is not None:
        missing = sorted(set(contexts) - set(with_perturbed))
        if missing:
            raise ScenarioError(
                f"contexts= names {missing}, which have no perturbed cells in this data. Contexts "
                f"with perturbed cells: {with_perturbed}."
            )
        taking_part = sorted(set(contexts))
    else:
        taking_part = with_perturbed
    needed = 3 if variant == "strict" else 2
    if len(taking_part) < needed:
        raise ScenarioError(
            f"The {variant!r} context split needs at least {needed} contexts with perturbed cells; "
            f"the data has {len(taking_part)} ({taking_part}). Load the data with a context_key "
            "that has more values (cell type, cell line, donor), or pass more contexts=."
        )

    rng = np.random.default_rng(seed)
    n_test = n_held_out(test_fraction, len(taking_part), "contexts")
    params: dict = {
        "contexts": taking_part,
        "val_fraction": val_fraction,
        "test_controls": test_controls,
    }
    info: dict = {}
    if variant == "leave_one_out":
        if not 0 <= fold < len(taking_part):
            raise ScenarioError(
                f"fold must be in [0, {len(taking_part)}) for leave_one_out over "
                f"{len(taking_part)} contexts, got {fold}."
            )
        test = [taking_part[fold]]
        params["fold"] = fold
        info["n_folds"] = len(taking_part)
    elif variant == "strict":
        vectors = context_embedding(adata, taking_part, embedding, seed=seed)
        test, found = strict_holdout(vectors, taking_part, n_test, seed)
        info.update(found)
        params.update(test_fraction=test_fraction, embedding=embedding)
    else:
        test = choose(rng, taking_part, n_test)
        params["test_fraction"] = test_fraction
    remaining = [x for x in taking_part if x not in test]
    val = choose(rng, remaining, min(int(val_fraction * len(remaining)), len(remaining) - 1))

    in_part = np.isin(context, taking_part) if contexts is not None else np.ones_like(control)
    in_test = np.isin(context, test)
    role = np.where(in_part, "train", "unused").astype(object)
    role[np.isin(context, val)] = "val"
    role[in_test & ~control] = "test"
    role[in_test & control] = test_controls
    perturbation = obs[c.PERTURBATION].astype(str).to_numpy()
    shots: dict[str, list[str]] = {}
    if variant == "few_shot":
        params["n_shots"] = n_shots
        for name in test:
            labels = sorted(set(perturbation[(context == name) & ~control]))
            if n_shots < 1 or len(labels) <= n_shots:
                raise ScenarioError(
                    f"few_shot moves n_shots={n_shots} perturbations of each test context to "
                    f"training, but test context {name!r} has {len(labels)} perturbation(s); "
                    "n_shots must be at least 1 and below that. Lower n_shots or use 'random'."
                )
            shots[name] = choose(rng, labels, n_shots)
            role[(context == name) & np.isin(perturbation, shots[name])] = "train"
    info.update(test_contexts=test, val_contexts=val, few_shot=shots)

    test_cells = (role == "test") & ~control
    seen = set(perturbation[(role == "train") & ~control])
    category = np.where(np.isin(perturbation, sorted(seen)), CATEGORIES[0], CATEGORIES[1])
    split = Split(
        scenario="context",
        variant=variant,
        params=params,
        seed=seed,
        fingerprint=fingerprint(adata),
        assignment=roles(obs.index, role),
        test_conditions=condition_table(adata, test_cells, category, CATEGORIES),
        info=info,
    )
    return finalise(adata, split, test_contexts=test)


class StrictSplitWarning(UserWarning):
    """The strict context split has a single valid held-out set: every seed holds out the same."""


def strict_holdout(
    vectors: np.ndarray, contexts: Sequence[str], n_test: int, seed: int
) -> tuple[list[str], dict[str, object]]:
    """The strict held-out contexts of ``seed`` and the facts for ``Split.info`` (module doc)."""
    cut, sets = cluster_holdout_sets(vectors, contexts, n_test)
    test = sets[seed % len(sets)]
    if len(sets) == 1:
        note = (
            f"only one valid strict held-out set exists ({test}, whole clusters at the {cut}-cluster "
            "cut): every seed holds out the same contexts, so the seeds vary only the subsampling "
            "and the models' randomness, and the sd over seeds is not a sd over held-out sets"
        )
        warnings.warn(f"Strict context split: {note}.", StrictSplitWarning, stacklevel=3)
    else:
        note = (
            f"{len(sets)} valid held-out sets at the {cut}-cluster cut; seed {seed} takes set "
            f"{seed % len(sets)}"
        )
    return test, {"strict_sets": len(sets), "strict_cut": cut, "strict_note": note}


def context_embedding(
    adata: ad.AnnData,
    contexts: Sequence[str],
    embedding: str | None = None,
    *,
    n_comps: int = 50,
    seed: int = 0,
) -> np.ndarray:
    """One row per context: the mean of its control cells in ``obsm[embedding]``, or (default) in
    a PCA space (``n_comps`` components) fitted on the control cells of ``contexts``."""
    obs = adata.obs
    context = obs[c.CONTEXT].astype(str)
    rows = np.flatnonzero(obs[c.IS_CONTROL].to_numpy() & context.isin(contexts).to_numpy())
    codes = pd.Categorical(context.to_numpy()[rows], categories=list(contexts)).codes
    if embedding is not None:
        if embedding not in adata.obsm:
            raise ScenarioError(
                f"obsm[{embedding!r}] does not exist; obsm keys: {list(adata.obsm)}. Pass "
                "embedding= naming one of them, or None for a PCA of the control cells."
            )
        values = np.asarray(adata.obsm[embedding])[rows]
    else:
        mean, components = fit_pca(adata.X, rows, n_comps, seed)
        values = project(adata.X, rows, mean, components)
    return group_means(values, codes.astype(np.int64), len(contexts))


def check_context_rules(adata: ad.AnnData, split: Split) -> None:
    """Error when a perturbed cell of a test context is in train/val (few-shot ones excepted), or
    a condition's category disagrees with what training contains."""
    obs = adata.obs
    context = obs[c.CONTEXT].astype(str).to_numpy()
    perturbation = obs[c.PERTURBATION].astype(str).to_numpy()
    perturbed = ~obs[c.IS_CONTROL].to_numpy()
    seen = split.mask(adata, "train") | split.mask(adata, "val")
    test_contexts = split.test_conditions[c.CONTEXT].astype(str).unique()
    shots = split.info.get("few_shot", {})
    allowed = np.zeros(len(obs), dtype=bool)
    for name, labels in shots.items():
        allowed |= (context == name) & np.isin(perturbation, list(labels))
    leaked = seen & perturbed & np.isin(context, test_contexts) & ~allowed
    if leaked.any():
        raise ScenarioError(
            f"Leakage: {int(leaked.sum())} perturbed cells of held-out contexts "
            f"{sorted(set(context[leaked]))} are in train/val."
        )
    trained = set(perturbation[split.mask(adata, "train") & perturbed])
    for label, category in zip(
        split.test_conditions[c.PERTURBATION], split.test_conditions["split_category"], strict=True
    ):
        if (label in trained) != (category == CATEGORIES[0]):
            raise ScenarioError(
                f"Leakage: test condition {label!r} breaks the rule of its category {category!r}."
            )
