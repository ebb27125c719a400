"""The ``Split`` value: which cells a model may train on and which conditions it is tested on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.errors import ScenarioError

SETS = ("train", "val", "test", "unused")
SET_DTYPE = pd.CategoricalDtype(list(SETS))


@dataclass(frozen=True)
class Split:
    """A scenario's split of one dataset (or of several datasets combined into one AnnData).

    Attributes:
        scenario: the scenario family (``context``, ``perturbation``, ``cross_dataset``).
        params: the scenario's parameters (JSON-serialisable).
        seed: the random seed.
        fingerprint: ``vcbench.data.fingerprint`` of the data the split was made from.
        assignment: per cell (indexed by obs name) one of ``train``, ``val``, ``test``, ``unused``.
            Control cells of a test context are inputs of the queries and the reference of the effect
            metrics; they are assigned ``train`` when the model may also fit on them, else ``test``.
        test_conditions: one row per test condition: context, perturbation (and ``vcb_dose`` for
            dose-resolved scenarios), ``split_category`` and the number of real test cells.
        variant: the scenario's variant (e.g. ``combo``, ``strict``).
        shift: the measured shift (see ``vcbench.scenarios.shift``); None when not measured.
        genes: the genes selected on training cells (cross-dataset splits); None means all genes.
        info: facts derived while building the split (fold count, held-out sets, HVG overlap, ...).
    """

    scenario: str
    params: dict[str, Any]
    seed: int
    fingerprint: str
    assignment: pd.Series
    test_conditions: pd.DataFrame = field(repr=False)
    variant: str = ""
    shift: pd.DataFrame | None = field(default=None, repr=False)
    genes: tuple[str, ...] | None = field(default=None, repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """``scenario/variant`` (or just the scenario when there is no variant)."""
        return f"{self.scenario}/{self.variant}" if self.variant else self.scenario

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

    def save(self, path: str | Path) -> Path:
        """Write the split file (format: ``vcbench.scenarios.io``); returns the path."""
        from vcbench.scenarios.io import save_split

        return save_split(self, path)

    @staticmethod
    def load(path: str | Path, adata: ad.AnnData | None = None) -> Split:
        """Read a split file; with ``adata``, check that it was made from that data."""
        from vcbench.scenarios.io import load_split

        return load_split(path, adata)


def condition_keys(split: Split) -> list[str]:
    """The columns that identify a test condition: context, perturbation (and dose when present)."""
    return c.condition_columns(split.test_conditions.columns)


def cell_condition_index(adata: ad.AnnData, keys: list[str]) -> pd.MultiIndex:
    """Each cell's condition as a MultiIndex over ``keys`` (values as strings)."""
    for key in keys:
        if key not in adata.obs.columns:
            raise ScenarioError(
                f"The split's test conditions use obs[{key!r}], which this data lacks. Use the "
                "data the split was made from."
            )
    return pd.MultiIndex.from_arrays([adata.obs[k].astype(str).to_numpy() for k in keys])


def check_no_test_leakage(adata: ad.AnnData, split: Split) -> None:
    """Error when a perturbed cell of a test condition is assigned to train or val."""
    obs = adata.obs
    keys = condition_keys(split)
    test_keys = pd.MultiIndex.from_frame(split.test_conditions[keys].astype(str))
    in_test_condition = (
        cell_condition_index(adata, keys).isin(test_keys) & ~obs[c.IS_CONTROL].to_numpy()
    )
    seen = split.assignment.reindex(obs.index).isin(["train", "val"]).to_numpy()
    leaked = in_test_condition & seen
    if leaked.any():
        examples = obs.index[leaked][:5].tolist()
        raise ScenarioError(
            f"Leakage: {int(leaked.sum())} perturbed cells of test conditions are in train/val "
            f"(e.g. {examples}). This is a bug in the scenario; please report it."
        )
