"""Unseen perturbations, GEARS-style combination split (docs/scenarios.md, "Unseen perturbation", ``combo``).

Within one context, a random fraction of the genes that have single-perturbation data is marked
*unseen*. Genes that never occur alone count as unseen too. Test categories:

- ``single_unseen``: an unseen gene alone;
- ``combo_unseen2`` / ``combo_unseen1``: a combination with 2 / 1 of its genes unseen (not seen alone
  in training);
- ``combo_unseen0``: no gene unseen (both seen alone), the combination itself unseen; a fraction
  ``seen2_train_fraction`` of these combinations stays in training.

Seen singles (and the kept ``combo_unseen0`` combinations) are training data; ``val_fraction`` of the
seen singles go to validation instead, and count as unseen for the categories (a category counts the
genes seen alone in *training*). The context's control cells are training data and the input of
the queries. Cells of other contexts are ``unused``.

The split is ``scenario="perturbation", variant="combo"``; it is checked for leakage and its shift is
measured before it is returned.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.data.fingerprint import fingerprint
from vcbench.errors import ScenarioError
from vcbench.scenarios.leakage import finalise
from vcbench.scenarios.split import SET_DTYPE, Split

CATEGORIES = ("single_unseen", "combo_unseen2", "combo_unseen1", "combo_unseen0")


def _choose(rng: np.random.Generator, items: list[str], n: int) -> set[str]:
    return set(rng.permutation(sorted(items))[:n].tolist())


def combo_split(
    adata: ad.AnnData,
    context: str | None = None,
    *,
    unseen_fraction: float = 0.25,
    seen2_train_fraction: float = 0.25,
    val_fraction: float = 0.0,
    seed: int = 0,
) -> Split:
    """Build the combination split of one context of a standardised dataset.

    ``context`` may be omitted when the data has one context with combinations.
    """
    obs = adata.obs
    with_combos = sorted(obs.loc[obs[c.N_TARGETS] >= 2, c.CONTEXT].astype(str).unique())
    if context is None:
        if len(with_combos) != 1:
            raise ScenarioError(
                f"The combo scenario needs a context with combination perturbations; contexts with "
                f"combinations: {with_combos or 'none'}. Pass context= naming one of them."
            )
        context = with_combos[0]
    if context not in with_combos:
        raise ScenarioError(
            f"Context {context!r} has no combination perturbations (labels 'A+B'), so the combo "
            f"scenario cannot be built there. Contexts with combinations: {with_combos or 'none'}."
        )
    if (
        not 0 < unseen_fraction < 1
        or not 0 <= seen2_train_fraction < 1
        or not 0 <= val_fraction < 1
    ):
        raise ScenarioError(
            "unseen_fraction must be in (0, 1); seen2_train_fraction and val_fraction in [0, 1)."
        )

    in_context = (obs[c.CONTEXT].astype(str) == context).to_numpy()
    conditions = (
        obs.loc[in_context & ~obs[c.IS_CONTROL].to_numpy()]
        .groupby(c.PERTURBATION, observed=True)
        .agg(
            n_targets=(c.N_TARGETS, "first"),
            targets=(c.TARGETS, "first"),
            n_cells=(c.N_TARGETS, "size"),
        )
    )
    singles = conditions.index[conditions["n_targets"] == 1].astype(str).tolist()
    if len(singles) < 2:
        raise ScenarioError(
            f"Context {context!r} has {len(singles)} single perturbations; the combo scenario needs at least 2."
        )
    rng = np.random.default_rng(seed)
    n_unseen = max(1, round(unseen_fraction * len(singles)))
    unseen = _choose(rng, singles, n_unseen)
    seen = sorted(set(singles) - unseen)
    val = _choose(rng, seen, int(val_fraction * len(seen)))
    seen_in_train = set(seen) - val

    category: dict[str, str] = {}
    for label, row in conditions[conditions["n_targets"] >= 2].iterrows():
        parts = str(row["targets"]).split(c.COMBINATION_DELIMITER)
        n_unseen = sum(part not in seen_in_train for part in parts)
        category[str(label)] = f"combo_unseen{min(n_unseen, 2)}"  # the paper's "Combo Unseen k"
    seen2 = sorted(k for k, v in category.items() if v == "combo_unseen0")
    kept_in_train = _choose(rng, seen2, int(seen2_train_fraction * len(seen2)))
    for label in unseen:
        category[label] = "single_unseen"
    for label in kept_in_train:
        del category[label]

    role = pd.Series("unused", index=obs.index, dtype=object)
    perturbation = obs[c.PERTURBATION].astype(str)
    role[in_context & obs[c.IS_CONTROL].to_numpy()] = "train"
    train_labels = seen_in_train | kept_in_train
    role[in_context & perturbation.isin(train_labels).to_numpy()] = "train"
    role[in_context & perturbation.isin(val).to_numpy()] = "val"
    role[in_context & perturbation.isin(category).to_numpy()] = "test"

    tests = conditions.loc[sorted(category)].reset_index()
    test_conditions = pd.DataFrame(
        {
            c.CONTEXT: context,
            c.PERTURBATION: tests[c.PERTURBATION].astype(str),
            "split_category": pd.Categorical(
                tests[c.PERTURBATION].astype(str).map(category), categories=CATEGORIES
            ),
            "n_cells": tests["n_cells"].astype(np.int64),
        }
    )
    split = Split(
        scenario="perturbation",
        variant="combo",
        params={
            "context": context,
            "unseen_fraction": unseen_fraction,
            "seen2_train_fraction": seen2_train_fraction,
            "val_fraction": val_fraction,
        },
        seed=seed,
        fingerprint=fingerprint(adata),
        assignment=role.astype(SET_DTYPE),
        test_conditions=test_conditions,
    )
    return finalise(adata, split)


def check_combo_rules(adata: ad.AnnData, split: Split) -> None:
    """Error when a test condition's category disagrees with what training actually contains.

    ``combo_unseenK`` must have exactly K genes (at most 2 counted) that do not occur as single
    perturbations in training;
    ``single_unseen`` genes must not occur in any training perturbation.
    """
    obs = adata.obs
    train = split.mask(adata, "train") & ~obs[c.IS_CONTROL].to_numpy()
    train_targets = obs.loc[train, [c.TARGETS, c.N_TARGETS]].drop_duplicates()
    seen_alone = set(train_targets.loc[train_targets[c.N_TARGETS] == 1, c.TARGETS])
    seen_anywhere = {g for t in train_targets[c.TARGETS] for g in t.split(c.COMBINATION_DELIMITER)}
    for label, category in zip(
        split.test_conditions[c.PERTURBATION], split.test_conditions["split_category"], strict=True
    ):
        parts = label.split(c.COMBINATION_DELIMITER)
        if category == "single_unseen":
            ok = parts[0] not in seen_anywhere
        else:
            ok = min(sum(p not in seen_alone for p in parts), 2) == int(str(category)[-1])
        if not ok:
            raise ScenarioError(
                f"Leakage: test condition {label!r} breaks the rule of its category {category!r}."
            )
