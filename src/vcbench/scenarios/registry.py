"""The scenario registry: ``make_split(adata, scenario, variant, seed, **options)`` and ``describe``.

Scenarios and variants (the first variant is the default):

- ``context``: ``random``, ``strict``, ``leave_one_out``, ``few_shot`` (``vcbench.scenarios.contexts``);
- ``perturbation``: ``single``, ``strict`` (``singles``), ``combo`` (``combo``), ``chemical``, ``dose``
  (``chemical``);
- ``cross_dataset``: ``single``, ``merged``, ``transfer`` (``cross_dataset``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.data.matrix_checks import check_unique_cells
from vcbench.errors import ScenarioError
from vcbench.scenarios.chemical import chemical_split, dose_split
from vcbench.scenarios.combo import combo_split
from vcbench.scenarios.contexts import context_split
from vcbench.scenarios.cross_dataset import combine_datasets, cross_dataset_split
from vcbench.scenarios.singles import single_split
from vcbench.scenarios.split import SETS, Split


def _with_variant(function: Callable[..., Split], variant: str) -> Callable[..., Split]:
    def build(adata: ad.AnnData, **options: Any) -> Split:
        return function(adata, variant, **options)

    build.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
    return build


SCENARIOS: dict[str, dict[str, Callable[..., Split]]] = {
    "context": {
        v: _with_variant(context_split, v)
        for v in ("random", "strict", "leave_one_out", "few_shot")
    },
    "perturbation": {
        "single": _with_variant(single_split, "single"),
        "strict": _with_variant(single_split, "strict"),
        "combo": combo_split,
        "chemical": chemical_split,
        "dose": dose_split,
    },
    "cross_dataset": {
        v: _with_variant(cross_dataset_split, v) for v in ("single", "merged", "transfer")
    },
}


# (scenario, variant) -> one-line description
DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("context", "random"): "Unseen contexts: a random set of contexts is held out.",
    ("context", "strict"): "Unseen contexts held out as whole clusters of similar contexts.",
    ("context", "leave_one_out"): "Unseen context: fold k holds out the k-th context.",
    ("context", "few_shot"): "Like random, with a few perturbations of each test context trained.",
    (
        "perturbation",
        "single",
    ): "Unseen single perturbations, dealt into folds within each context.",
    (
        "perturbation",
        "strict",
    ): "Unseen single perturbations held out as clusters of similar effect.",
    ("perturbation", "combo"): "Held-out singles and combinations by how many parts were seen.",
    ("perturbation", "chemical"): "Unseen compounds, tested at every dose and in every context.",
    ("perturbation", "dose"): "The highest dose of each compound held out; lower doses trained.",
    ("cross_dataset", "single"): "Shared perturbations of a target dataset; train on the target.",
    ("cross_dataset", "merged"): "As single, adding every source dataset's cells to training.",
    ("cross_dataset", "transfer"): "As single, training on the source datasets only.",
}


# (scenario, variant) -> what every test condition has that no training cell has: "context" (its
# cell context), "perturbation" (its label and its targets) or "combination" (its label; some of
# its parts may be trained as singles). Variants that mix seen and unseen parts (doses, few-shot,
# cross-dataset) are not listed. Models use it to say where they are not applicable
# (``PerturbationModel.not_applicable``).
UNSEEN_IN_TEST: dict[tuple[str, str], str] = {
    **{("context", v): "context" for v in ("random", "strict", "leave_one_out")},
    **{("perturbation", v): "perturbation" for v in ("single", "strict", "chemical")},
    ("perturbation", "combo"): "combination",
}


def unseen_in_test(scenario: str, variant: str | None = None) -> str | None:
    """What ``UNSEEN_IN_TEST`` says the scenario's test conditions hold out (None: nothing whole);
    ``variant`` None is the scenario's default variant."""
    variants = SCENARIOS.get(scenario, {})
    return UNSEEN_IN_TEST.get((scenario, variant or next(iter(variants), "")))


def list_scenarios() -> list[dict[str, object]]:
    """Every scenario variant: name, variant, one-line description, whether it is the default
    variant, and its options (all scenarios are in the core install: no extra)."""
    return [
        {
            "name": scenario,
            "variant": variant,
            "default": variant == next(iter(variants)),
            "description": DESCRIPTIONS.get((scenario, variant), ""),
            "options": options_of(scenario, variant),
            "extra": None,
            "installed": True,
        }
        for scenario, variants in SCENARIOS.items()
        for variant in variants
    ]


def options_of(scenario: str, variant: str) -> list[str]:
    """The keyword options a scenario variant accepts (besides ``seed``)."""
    parameters = inspect.signature(SCENARIOS[scenario][variant]).parameters
    return [name for name in parameters if name not in {"adata", "variant", "seed"}]


def make_split(
    adata: ad.AnnData | Sequence[ad.AnnData],
    scenario: str,
    variant: str | None = None,
    seed: int = 0,
    **options: Any,
) -> Split:
    """Build, check and measure the split of ``scenario``/``variant`` (see the module doc).

    ``adata`` is a standardised AnnData, or for ``cross_dataset`` a list of them (combined with
    ``combine_datasets``; split the combined data the same way to reuse the split). An option that
    the variant does not take is an error that lists the options it does take.
    """
    if scenario not in SCENARIOS:
        raise ScenarioError(f"Unknown scenario {scenario!r}; choose one of {list(SCENARIOS)}.")
    variants = SCENARIOS[scenario]
    variant = variant or next(iter(variants))
    if variant not in variants:
        raise ScenarioError(
            f"Scenario {scenario!r} has no variant {variant!r}; choose one of {list(variants)}."
        )
    accepted = options_of(scenario, variant)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ScenarioError(
            f"Option(s) {unknown} do not apply to {scenario}/{variant}; it takes {accepted}."
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ScenarioError(f"The seed must be an integer >= 0, got {seed!r}. Pass seed=0, 1, ...")
    for one in [adata] if isinstance(adata, ad.AnnData) else adata:
        check_unique_cells(one)
    if not isinstance(adata, ad.AnnData):
        if scenario != "cross_dataset":
            raise ScenarioError(f"Scenario {scenario!r} takes one AnnData, not a list.")
        adata = combine_datasets(adata)
    return variants[variant](adata, seed=seed, **options)


def describe(adata: ad.AnnData, split: Split) -> pd.DataFrame:
    """The split's summary table: one row per set, then one per test category.

    Columns: ``set``, ``split_category`` (empty on set rows), ``cells``, ``control_cells``,
    ``conditions`` (distinct perturbed conditions), ``energy_distance`` (category rows: the shift
    from the perturbed training cells).
    """
    obs = adata.obs
    control = obs[c.IS_CONTROL].to_numpy()
    condition = pd.Series(c.joined_labels(obs[[c.CONTEXT, c.PERTURBATION]]))
    rows = []
    for which in SETS:
        mask = split.mask(adata, which)
        rows.append(
            {
                "set": which,
                "split_category": "",
                "cells": int(mask.sum()),
                "control_cells": int((mask & control).sum()),
                "conditions": int(condition[mask & ~control].nunique()),
                "energy_distance": float("nan"),
            }
        )
    shift = split.shift if split.shift is not None else pd.DataFrame(columns=["measure"])
    distance = shift[shift["measure"] == "category"].set_index("test")["energy_distance"]
    for category, group in split.test_conditions.groupby("split_category", observed=True):
        rows.append(
            {
                "set": "test",
                "split_category": str(category),
                "cells": int(group["n_cells"].sum()),
                "control_cells": 0,
                "conditions": len(group),
                "energy_distance": float(distance.get(str(category), float("nan"))),
            }
        )
    return pd.DataFrame(rows)
