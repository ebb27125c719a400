"""Every torch model against the baselines on combinations whose effect is the sum of their parts'.

The simulator (``combination_screen``: one context, 40 singles, 60 combinations, no interaction,
systematic shift 0.5) makes a combination's log effect the sum of its parts' specific effects plus the shared
shift, so ``additive`` is near the truth on the combinations of two training targets
(``combo_unseen0``; pdcorr 0.937, ``perturbed_mean`` 0.476). The bar: halfway from
``perturbed_mean`` to ``additive``. Counterfactual validation holds out training combinations on
this split (``runner.task.held_out_unit``); when it held out whole labels, mostly singles, it chose
the early epochs that predict a mean effect and biolord (0.473), sams_vae (0.620) and state
(0.462) fell below the bar (measured 2026-12-07; now 0.903, 0.889, 0.755; docs/models.md).
"""

from __future__ import annotations

from functools import cache

import pytest
from deep_model_cases import expecting_failures

from vcbench.data.simulate import combination_screen
from vcbench.models import get_model
from vcbench.models.registry import LAZY_MODELS
from vcbench.runner import run_model
from vcbench.scenarios import combo_split

pytest.importorskip("torch")

# every model of the torch extra (the registry's order)
MODELS = [name for name, (_, extra) in LAZY_MODELS.items() if extra == "torch"]
BELOW_THE_BAR = {
    "sclambda": "pdcorr 0.569: its encoder maps a combination's summed target features through an "
    "MLP, so a combination is not the sum of its parts (0.703 with one-hot features too)",
    "gears": "pdcorr 0.645: it fuses a combination's summed target embeddings through an MLP "
    "(GEARS's pert_fuse), which learns additivity from 8 training combinations (0.80 from 58)",
}


@cache
def case():
    sim = combination_screen(seed=0)
    return sim.adata, combo_split(sim.adata, seed=0)


@cache
def seen_combination_pdcorr(name: str) -> float:
    adata, split = case()
    scores = run_model(adata, split, get_model(name), ["pdcorr"])
    return float(scores.loc[scores["split_category"] == "combo_unseen0", "value"].mean())


@pytest.mark.parametrize("name", expecting_failures(MODELS, BELOW_THE_BAR, strict=False))
def test_model_combines_training_targets_at_least_halfway_to_additive(name: str) -> None:
    floor, additive = seen_combination_pdcorr("perturbed_mean"), seen_combination_pdcorr("additive")
    assert additive > floor + 0.3  # the case separates the baselines
    score = seen_combination_pdcorr(name)
    bar = (floor + additive) / 2
    assert score > bar, f"{name}: pdcorr {score:.3f} <= {bar:.3f} (additive {additive:.3f})"
