"""Leakage checks, run on every split before it is returned or used. A broken rule is an error.

``check_split`` runs, for every split:

- no perturbed cell of a test condition is in train or val (``check_no_test_leakage``), every
  perturbed cell of a test condition is in test, and ``n_cells`` counts them;
- the scenario's own rules (the ``check_*_rules`` function of its module), e.g. in
  ``combo_unseen2`` neither gene occurs as a single perturbation in training, in a strict context
  split no perturbed cell of a test context is in training, and the genes of a cross-dataset split
  are exactly those selected on its training cells.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.errors import ScenarioError
from vcbench.scenarios.split import (
    Split,
    cell_condition_index,
    check_no_test_leakage,
    condition_keys,
)


def check_test_cells(adata: ad.AnnData, split: Split) -> None:
    """Error when a test condition's perturbed cells are not all in test, or miscounted."""
    keys = condition_keys(split)
    conditions = split.test_conditions
    perturbed = ~adata.obs[c.IS_CONTROL].to_numpy()
    cells = cell_condition_index(adata, keys)
    test = split.mask(adata, "test") & perturbed
    counted = pd.Series(1, index=cells[test]).groupby(level=list(range(len(keys)))).size()
    expected = pd.Series(
        conditions["n_cells"].to_numpy(),
        index=pd.MultiIndex.from_frame(conditions[keys].astype(str)),
    )
    if counted.sort_index().to_dict() != expected.sort_index().to_dict():
        raise ScenarioError(
            "Leakage check: the test conditions' cell counts do not match the perturbed cells "
            "assigned to test. This is a bug in the scenario; please report it."
        )
    outside = cells.isin(expected.index) & perturbed & ~split.mask(adata, "test")
    if outside.any():
        raise ScenarioError(
            f"{int(outside.sum())} perturbed cells of test conditions are not in test "
            f"(e.g. {adata.obs_names[outside][:3].tolist()}). This is a bug; please report it."
        )


def seen_targets(adata: ad.AnnData, mask: np.ndarray) -> pd.DataFrame:
    """(context, target) pairs of every gene/compound in a perturbation of the cells in ``mask``."""
    obs = adata.obs[mask & ~adata.obs[c.IS_CONTROL].to_numpy()]
    pairs = obs[[c.CONTEXT, c.TARGETS]].astype(str).drop_duplicates()
    pairs = pairs.assign(target=pairs[c.TARGETS].str.split(c.COMBINATION_DELIMITER)).explode(
        "target"
    )
    return pairs[[c.CONTEXT, "target"]].drop_duplicates().reset_index(drop=True)


def check_targets_unseen(
    adata: ad.AnnData, split: Split, held_out: Sequence[str], *, per_context: bool, what: str
) -> None:
    """Error when a held-out gene/compound occurs in a train or val perturbation.

    With ``per_context`` the rule is checked within the contexts where it is tested; otherwise in
    every context.
    """
    seen = seen_targets(adata, split.mask(adata, "train") | split.mask(adata, "val"))
    seen = seen[seen["target"].isin(list(held_out))]
    if per_context:
        tested = split.test_conditions[[c.CONTEXT, c.PERTURBATION]].astype(str)
        tested = tested.assign(target=tested[c.PERTURBATION].str.split(c.COMBINATION_DELIMITER))
        tested = tested.explode("target")
        seen = seen.merge(tested[[c.CONTEXT, "target"]].drop_duplicates(), how="inner")
    if len(seen):
        first = seen.iloc[0]
        raise ScenarioError(
            f"Leakage: held-out {what} {first['target']!r} occurs in a training/validation "
            f"perturbation (context {first[c.CONTEXT]!r}); {len(seen)} such case(s)."
        )


def check_split(adata: ad.AnnData, split: Split) -> None:
    """Run every leakage check that applies to ``split`` (see the module doc)."""
    check_no_test_leakage(adata, split)
    check_test_cells(adata, split)
    if split.scenario == "context":
        from vcbench.scenarios.contexts import check_context_rules

        check_context_rules(adata, split)
    elif split.scenario == "perturbation":
        from vcbench.scenarios.chemical import check_chemical_rules, check_dose_rules
        from vcbench.scenarios.combo import check_combo_rules
        from vcbench.scenarios.singles import check_single_rules

        rules = {
            "combo": check_combo_rules,
            "single": check_single_rules,
            "strict": check_single_rules,
            "chemical": check_chemical_rules,
            "dose": check_dose_rules,
        }
        rules[split.variant](adata, split)
    elif split.scenario == "cross_dataset":
        from vcbench.scenarios.cross_dataset import check_cross_dataset_rules

        check_cross_dataset_rules(adata, split)


def finalise(
    adata: ad.AnnData,
    split: Split,
    *,
    test_contexts: Sequence[str] = (),
    measured_on: ad.AnnData | None = None,
) -> Split:
    """Check ``split`` for leakage, then attach its measured shift (``vcbench.scenarios.shift``):
    the table, and the split's one shift number in ``info["shift"]`` (``info["shift_measure"]``).

    ``measured_on`` is the data as a model sees it, when it differs from ``adata`` (count scaling).
    """
    from vcbench.scenarios.shift import measure_shift, split_shift

    check_split(adata, split)
    shift = measure_shift(
        adata if measured_on is None else measured_on,
        split,
        test_contexts=test_contexts,
        genes=split.genes,
        seed=split.seed,
    )
    value, measure = split_shift(shift)
    info = {**split.info, "shift": None if np.isnan(value) else value, "shift_measure": measure}
    return dataclasses.replace(split, shift=shift, info=info)
