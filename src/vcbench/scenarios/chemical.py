"""Unseen compounds and unseen doses (docs/scenarios.md, "Unseen perturbation", ``chemical`` and ``dose``).

- ``chemical``: the compounds are the targets of single perturbations; ``round(test_fraction · n)``
  of them (at least 1, at most n − 1) are held out at random. Every cell whose perturbation
  contains a held-out compound, at every dose and in every context, is ``test``: category
  ``compound_unseen`` for a compound alone, ``compound_unseen_combo`` for a combination with one.
  ``val_fraction`` of the other compounds go to ``val`` (their combinations too, unless they hold a
  test compound).
- ``dose``: needs doses (``load_dataset(..., dose_key=...)``), read as numbers. For every (context,
  single compound) measured at two or more doses, the cells of its highest dose are ``test``
  (category ``dose_unseen``); its lower doses stay in training. Combinations are ``unused``. The
  split does not depend on the seed.

Controls are ``train``. When the data has doses, the test conditions carry a ``vcb_dose`` column:
a condition is (context, perturbation, dose).
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.data.fingerprint import fingerprint
from vcbench.errors import ScenarioError
from vcbench.scenarios.build import choose, condition_table, n_held_out, roles
from vcbench.scenarios.leakage import check_targets_unseen, finalise
from vcbench.scenarios.split import Split

CHEMICAL_CATEGORIES = ("compound_unseen", "compound_unseen_combo")
DOSE_CATEGORIES = ("dose_unseen",)


def _parts(obs: pd.DataFrame) -> pd.Series:
    """Each cell's targets as a list (empty for controls)."""
    return obs[c.TARGETS].astype(str).map(lambda s: s.split(c.COMBINATION_DELIMITER) if s else [])


def chemical_split(
    adata: ad.AnnData, *, test_fraction: float = 0.25, val_fraction: float = 0.0, seed: int = 0
) -> Split:
    """Hold out whole compounds, every dose (definitions in the module doc)."""
    obs = adata.obs
    control = obs[c.IS_CONTROL].to_numpy()
    single = (obs[c.N_TARGETS] == 1).to_numpy()
    compounds = sorted(set(obs.loc[single, c.TARGETS].astype(str)))
    if len(compounds) < 2:
        raise ScenarioError(
            f"The chemical scenario needs at least 2 compounds given alone; the data has "
            f"{len(compounds)}. Check perturbation_key= and the control label."
        )
    if not 0 <= val_fraction < 1:
        raise ScenarioError(f"val_fraction must be in [0, 1), got {val_fraction}.")
    rng = np.random.default_rng(seed)
    test = choose(rng, compounds, n_held_out(test_fraction, len(compounds), "compounds"))
    rest = sorted(set(compounds) - set(test))
    val = choose(rng, rest, int(val_fraction * len(rest)))
    exploded = _parts(obs).explode()
    has_test = exploded.isin(test).groupby(level=0, sort=False).any().reindex(obs.index)
    has_val = exploded.isin(val).groupby(level=0, sort=False).any().reindex(obs.index)
    has_test, has_val = has_test.to_numpy(dtype=bool), has_val.to_numpy(dtype=bool)
    role = np.full(len(obs), "train", dtype=object)
    role[has_val] = "val"
    role[has_test & ~control] = "test"
    category = np.where(single, CHEMICAL_CATEGORIES[0], CHEMICAL_CATEGORIES[1])
    split = Split(
        scenario="perturbation",
        variant="chemical",
        params={"test_fraction": test_fraction, "val_fraction": val_fraction},
        seed=seed,
        fingerprint=fingerprint(adata),
        assignment=roles(obs.index, role),
        test_conditions=condition_table(adata, role == "test", category, CHEMICAL_CATEGORIES),
        info={"held_out": test, "val_compounds": val},
    )
    return finalise(adata, split)


def numeric_doses(adata: ad.AnnData) -> np.ndarray:
    """``vcb_dose`` as floats (NaN for controls); an error naming labels that are not numbers."""
    obs = adata.obs
    if c.DOSE not in obs.columns:
        raise ScenarioError(
            "The dose scenario needs doses, but the data has no obs['vcb_dose']. Load it with "
            "load_dataset(..., dose_key='<obs column with the dose>')."
        )
    control = obs[c.IS_CONTROL].to_numpy()
    values = pd.to_numeric(obs[c.DOSE].astype(str), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~control & (obs[c.N_TARGETS] == 1).to_numpy() & np.isnan(values)
    if bad.any():
        labels = sorted(set(obs.loc[bad, c.DOSE].astype(str)))[:5]
        raise ScenarioError(
            f"The dose scenario reads doses as numbers, but obs['vcb_dose'] has labels such as "
            f"{labels}. Give the dose column as plain numbers (one unit per dataset)."
        )
    values[control] = np.nan
    return values


def dose_split(adata: ad.AnnData, *, seed: int = 0) -> Split:
    """Hold out the highest dose of every compound seen at lower doses (see the module doc)."""
    obs = adata.obs
    dose = numeric_doses(adata)
    single = (obs[c.N_TARGETS] == 1).to_numpy()
    frame = pd.DataFrame(
        {
            "context": obs[c.CONTEXT].astype(str).to_numpy(),
            "label": obs[c.PERTURBATION].astype(str).to_numpy(),
            "dose": dose,
        }
    )
    singles = frame[single]
    top = singles.groupby(["context", "label"])["dose"].agg(["max", "nunique"])
    top = top[top["nunique"] >= 2]
    if top.empty:
        raise ScenarioError(
            "The dose scenario needs a compound measured at 2 or more doses in one context; no "
            "compound in this data is. Use the chemical scenario instead."
        )
    highest = frame.join(top["max"].rename("top"), on=["context", "label"])["top"].to_numpy()
    test = single & (dose == highest)
    role = np.where(single, "train", "unused").astype(object)
    role[obs[c.IS_CONTROL].to_numpy()] = "train"
    role[test] = "test"
    category = np.full(len(obs), DOSE_CATEGORIES[0], dtype=object)
    split = Split(
        scenario="perturbation",
        variant="dose",
        params={},
        seed=seed,
        fingerprint=fingerprint(adata),
        assignment=roles(obs.index, role),
        test_conditions=condition_table(adata, test, category, DOSE_CATEGORIES),
    )
    return finalise(adata, split)


def check_chemical_rules(adata: ad.AnnData, split: Split) -> None:
    """Error when a held-out compound occurs in any train/val perturbation, in any context."""
    held = split.test_conditions[c.PERTURBATION].astype(str)
    held = held[split.test_conditions["split_category"] == CHEMICAL_CATEGORIES[0]].unique()
    check_targets_unseen(adata, split, held.tolist(), per_context=False, what="compound")


def check_dose_rules(adata: ad.AnnData, split: Split) -> None:
    """Error unless each test condition's compound is in training in its context, only at lower
    doses."""
    obs = adata.obs
    dose = numeric_doses(adata)
    train = split.mask(adata, "train") & ~obs[c.IS_CONTROL].to_numpy()
    seen = pd.DataFrame(
        {
            c.CONTEXT: obs[c.CONTEXT].astype(str).to_numpy()[train],
            c.PERTURBATION: obs[c.PERTURBATION].astype(str).to_numpy()[train],
            "dose": dose[train],
        }
    )
    top_seen = seen.groupby([c.CONTEXT, c.PERTURBATION])["dose"].max()
    conditions = split.test_conditions
    keys = pd.MultiIndex.from_frame(conditions[[c.CONTEXT, c.PERTURBATION]].astype(str))
    trained_top = top_seen.reindex(keys).to_numpy()
    tested = pd.to_numeric(conditions[c.DOSE], errors="coerce").to_numpy(dtype=np.float64)
    broken = ~(trained_top < tested)  # NaN (never seen) breaks the rule too
    if broken.any():
        label = conditions[c.PERTURBATION].iloc[int(np.flatnonzero(broken)[0])]
        raise ScenarioError(
            f"Leakage: test condition {label!r} breaks the rule of 'dose_unseen' (its compound "
            "must be in training at lower doses only)."
        )
