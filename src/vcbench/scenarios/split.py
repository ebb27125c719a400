"""The ``Split`` value: which cells a model may train on and which conditions it is tested on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.errors import ScenarioError

SETS = ("train", "val", "test", "unused")
CONDITION_COLUMNS = (c.CONTEXT, c.PERTURBATION, "split_category", "n_cells")


@dataclass(frozen=True)
class Split:
    """A scenario's split of one dataset.

    Attributes:
        scenario: the scenario's name (e.g. ``"combo"``).
        params: the scenario's parameters (JSON-serialisable).
        seed: the random seed.
        fingerprint: ``vcbench.data.fingerprint`` of the data the split was made from.
        assignment: per cell (indexed by obs name) one of ``train``, ``val``, ``test``, ``unused``.
            Control cells of a test context are inputs of the queries and the reference of the effect
            metrics; they are assigned ``train`` when the model may also fit on them.
        test_conditions: one row per test condition: context, perturbation, ``split_category`` and
            the number of real test cells.
    """

    scenario: str
    params: dict[str, Any]
    seed: int
    fingerprint: str
    assignment: pd.Series
    test_conditions: pd.DataFrame = field(repr=False)

    def mask(self, adata: ad.AnnData, which: str) -> np.ndarray:
        """Boolean mask over ``adata``'s cells of one set (``train``, ``val``, ``test``, ``unused``)."""
        if which not in SETS:
            raise ValueError(f"Unknown set {which!r}; choose one of {SETS}.")
        return (self.assignment.reindex(adata.obs_names) == which).to_numpy()

    def summary(self) -> pd.DataFrame:
        """Conditions and cells per split category."""
        return (
            self.test_conditions.groupby("split_category", observed=True)
            .agg(conditions=(c.PERTURBATION, "size"), cells=("n_cells", "sum"))
            .reset_index()
        )


def check_no_test_leakage(adata: ad.AnnData, split: Split) -> None:
    """Error when a perturbed cell of a test condition is assigned to train or val."""
    obs = adata.obs
    test_keys = pd.MultiIndex.from_frame(
        split.test_conditions[[c.CONTEXT, c.PERTURBATION]].astype(str)
    )
    cell_keys = pd.MultiIndex.from_arrays(
        [obs[c.CONTEXT].astype(str), obs[c.PERTURBATION].astype(str)]
    )
    in_test_condition = cell_keys.isin(test_keys) & ~obs[c.IS_CONTROL].to_numpy()
    seen = split.assignment.reindex(obs.index).isin(["train", "val"]).to_numpy()
    leaked = in_test_condition & seen
    if leaked.any():
        examples = obs.index[leaked][:5].tolist()
        raise ScenarioError(
            f"Leakage: {int(leaked.sum())} perturbed cells of test conditions are in train/val "
            f"(e.g. {examples}). This is a bug in the scenario; please report it."
        )
