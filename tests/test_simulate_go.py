"""The GO-structured simulator: a known answer for unseen single perturbations.

Effects derive from GO programmes attached to the targets' real annotations, so a model that knows
the targets' GO annotations can place an unseen target; one that knows only one-hot identities
cannot; one given the true programme membership (the oracle) does best."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from vcbench.data.simulate import go_screen, simulate
from vcbench.knowledge import go_embedding
from vcbench.knowledge.annotations import gene_term_matrix, go_parents
from vcbench.models import GenePert, Linear, PerturbedMean
from vcbench.runner import run_model
from vcbench.scenarios.singles import single_split

SEEDS = (0, 1)


@pytest.fixture(autouse=True, scope="module")
def _cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(go_embedding.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "cache"))
        yield


def go_simulation(seed: int):
    return go_screen(seed=seed)


@pytest.fixture(scope="module")
def scores(_cache) -> pd.DataFrame:
    rows = []
    for seed in SEEDS:
        sim = go_simulation(seed)
        split = single_split(sim.adata, "single", seed=0)
        models = {
            "perturbed_mean": PerturbedMean(),
            "linear_onehot": Linear(embedding="onehot"),
            "linear_go": Linear(),
            "linear_oracle": Linear(embedding=sim.target_programmes),
            "genepert_go": GenePert(),
        }
        for name, model in models.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                got = run_model(sim.adata, split, model, ["pdcorr", "pds"])
            means = got.groupby("metric")["value"].mean()
            rows += [(seed, name, metric, value) for metric, value in means.items()]
    return pd.DataFrame(rows, columns=["seed", "model", "metric", "value"]).pivot_table(
        index=["seed", "model"], columns="metric", values="value"
    )


def test_targets_are_real_genes_annotated_to_their_programmes() -> None:
    sim = go_simulation(0)
    membership = sim.target_programmes
    assert list(membership.index) == sim.params["singles"]
    assert (membership.sum(axis=1) >= 1).all()
    # independent check: each target is annotated to each of its programmes directly or through a
    # descendant term (is_a / part of)
    genes, terms, direct = gene_term_matrix(("BP",), False)
    parents = go_parents()
    parents = parents[parents["relation"].isin(["isa", "part of"])]
    children = parents.groupby("parent")["child"].apply(list).to_dict()

    def descendants(term: str) -> set[str]:
        seen, todo = {term}, [term]
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen

    for programme in membership.columns:
        below = descendants(programme)
        for target in membership.index:
            annotated = set(terms[direct[genes.get_loc(target)].indices])
            assert bool(annotated & below) == bool(membership.loc[target, programme])
    # the effects of two targets with the same programmes are the same (no target-specific part)
    effects = sim.true_log_effect.xs("ctx0", level="context")
    same = membership.groupby(list(membership.columns)).groups
    group = next(g for g in same.values() if len(g) > 1)
    np.testing.assert_allclose(effects.loc[group[0]], effects.loc[group[1]])


def test_go_features_beat_the_perturbed_mean_on_unseen_singles(scores) -> None:
    for seed in SEEDS:
        go, mean = scores.loc[(seed, "linear_go")], scores.loc[(seed, "perturbed_mean")]
        assert go["pdcorr"] > mean["pdcorr"] + 0.05
        assert go["pds"] > mean["pds"] + 0.1
        assert scores.loc[(seed, "genepert_go"), "pds"] > mean["pds"] + 0.05


def test_onehot_features_do_not_and_the_oracle_beats_go(scores) -> None:
    for seed in SEEDS:
        onehot, mean = scores.loc[(seed, "linear_onehot")], scores.loc[(seed, "perturbed_mean")]
        assert abs(onehot["pdcorr"] - mean["pdcorr"]) < 0.01
        oracle, go = scores.loc[(seed, "linear_oracle")], scores.loc[(seed, "linear_go")]
        assert oracle["pdcorr"] > go["pdcorr"] + 0.05


def test_go_option_keeps_the_other_draws_and_checks_its_arguments() -> None:
    measured = simulate(n_contexts=1, n_genes=40, n_singles=5, n_combinations=2, seed=3)
    go = simulate(n_contexts=1, n_genes=40, n_singles=5, n_combinations=2, seed=3, targets="go")
    controls = lambda s: s.true_mean.xs("control", level="perturbation")  # noqa: E731
    pd.testing.assert_frame_equal(controls(measured), controls(go))
    assert all(t.isupper() and not t.startswith("G0") for t in go.params["singles"])
    assert len(go.params["combinations"]) == 2
    with pytest.raises(ValueError, match="targets must be one of"):
        simulate(targets="drugs")  # type: ignore[arg-type]
