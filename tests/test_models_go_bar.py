"""The bar of the model-fidelity issue: on the GO-structured simulator (``go_screen``: unseen
single perturbations of real human genes whose effects follow their GO programmes), each deep model
and genepert, with its default settings, beats ``perturbed_mean`` on pdcorr; and given the oracle
feature (the true programme membership of each target) each deep model beats it too.

The bar is the lookup baseline, not ``no_change``: ``perturbed_mean`` already has pdcorr 0.724
here (the screen has a systematic shift shared by every perturbation). Models that do not pass
are expected failures with the measured reason (not strict: an unexpected pass is reported as
XPASS, and the list is the model-fidelity issue's to shrink). Measured 2026-12-03 with default
settings (counterfactual selection, the form it chose; pdcorr): genepert 0.832, state 0.786
(plain), biolord 0.762 (plain), sams_vae 0.734 (effect); prnet 0.837 (plain; measured
2026-12-04, since its decoder starts at the training distribution and its samples are centred:
0.536 before), cpa 0.785 (measured 2026-12-04 with its variational basal latent: 0.709
before); sclambda 0.729 (plain, the selected weights kept; re-measured 2026-12-07: above
the bar on all six screens of seeds 0-5, docs/models.md); below: gears 0.692 (effect).
With the oracle feature: prnet 0.996 (2026-12-04; 0.995 before), biolord 0.995, sclambda 0.994,
cpa 0.992 (2026-12-04; 0.713 with the deterministic encoder), sams_vae 0.967, gears 0.959
(0.952 on 2026-12-07).
"""

from __future__ import annotations

from functools import cache

import pytest
from deep_model_cases import expecting_failures

from vcbench.data.simulate import go_screen
from vcbench.models import get_model
from vcbench.runner import run_model
from vcbench.scenarios.singles import single_split

pytest.importorskip("torch")

DEEP = ["cpa", "biolord", "sams_vae", "sclambda", "prnet", "gears", "state"]
BELOW_THE_BAR = {
    "gears": "pdcorr 0.692: 11 of its 16 test targets have no training target among their 21 GO "
    "neighbours, so their embeddings are untrained (0.95 with the oracle graph; docs/models.md)",
}
ORACLE_BELOW_THE_BAR: dict[str, str] = {}


@cache
def case():
    sim = go_screen(seed=0)
    return sim, single_split(sim.adata, seed=0)


@cache
def pdcorr(name: str, oracle: bool = False) -> float:
    sim, split = case()
    params = {}
    if oracle and name == "gears":  # GEARS's perturbation graph from the true programmes
        member = sim.target_programmes.stack()
        member = member[member > 0].reset_index()
        params = {
            "go_terms": member.set_axis(["gene", "go_term", "member"], axis=1)[["gene", "go_term"]]
        }
    elif oracle:
        params = {"embedding": sim.target_programmes, "features": "embedding"}
    scores = run_model(sim.adata, split, get_model(name, **params), ["pdcorr"])
    return float(scores["value"].mean())


@pytest.mark.parametrize(
    "name", expecting_failures([*DEEP, "genepert"], BELOW_THE_BAR, strict=False)
)
def test_model_beats_perturbed_mean_on_unseen_go_singles(name: str) -> None:
    bar = pdcorr("perturbed_mean")
    assert pdcorr(name) > bar, f"{name}: pdcorr {pdcorr(name):.3f} <= perturbed_mean {bar:.3f}"


@pytest.mark.parametrize("name", expecting_failures(DEEP, ORACLE_BELOW_THE_BAR, strict=False))
def test_model_given_the_oracle_feature_beats_perturbed_mean(name: str) -> None:
    bar = pdcorr("perturbed_mean")
    score = pdcorr(name, oracle=True)
    assert score > bar, f"{name} with the oracle feature: pdcorr {score:.3f} <= {bar:.3f}"
