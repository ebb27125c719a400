"""Counterfactual selection and the effect form of the simple torch models (``linear_additive``,
``latent_additive``, ``decoder_only``; vcbench.models.torch_simple, reusing
vcbench.models.deep.selection): what is held out and recorded, the refit, the fallbacks, the
parameter errors, and the effect form ``x0 + f(x0, p) − f(x0, ∅)`` computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from vcbench.data import contract as c
from vcbench.data.simulate import simulate
from vcbench.errors import ModelError

pytest.importorskip("torch")

from vcbench.models import get_model
from vcbench.models.base import queries_for
from vcbench.runner.task import run_model_timed
from vcbench.scenarios.singles import single_split

SIMPLE = ["linear_additive", "latent_additive", "decoder_only"]
FAST = {"n_epochs": 4, "hidden": 32, "latent_dim": 8}


def _params(name: str, **extra) -> dict:
    keep = {"linear_additive": ["n_epochs"], "decoder_only": ["n_epochs", "hidden"]}
    params = {k: v for k, v in FAST.items() if k in keep.get(name, FAST)}
    # a representation of the unseen test perturbations: one-hot alone is not applicable there
    return {"features": "onehot+embedding", **params, **extra}


@pytest.fixture(scope="module")
def singles():
    sim = simulate(
        n_contexts=1, n_genes=60, n_singles=60, n_combinations=0, cells_per_condition=12, seed=1
    )
    return sim.adata, single_split(sim.adata, seed=0)


def _training_labels(train) -> set[str]:
    return set(train.obs.loc[~train.obs[c.IS_CONTROL], c.PERTURBATION].astype(str))


@pytest.mark.parametrize("name", SIMPLE)
def test_selection_holds_out_training_perturbations_records_and_refits(singles, name) -> None:
    adata, split = singles
    train = adata[split.mask(adata, "train")]
    labels = _training_labels(train)
    model = get_model(name, **_params(name))
    _, record = run_model_timed(adata, split, model, ["pdcorr"])
    selection = model.selection_
    assert selection is not None and selection.unit == "perturbation"
    assert set(selection.held_out) < labels  # training perturbations, never test ones
    assert len(selection.held_out) == round(0.2 * len(labels))  # validation_perturbations
    forms = {"effect"} if name == "linear_additive" else {"effect", "plain"}  # "auto"
    assert set(selection.form_scores) == forms
    assert all(len(v) == 4 and np.isfinite(v).all() for v in selection.form_scores.values())
    assert model.effect_form_ == (selection.form == "effect")
    # the refit: the selected number of epochs, on every training cell (held-out labels included)
    assert selection.refit and len(model.losses_) == selection.epoch + 1
    assert set(selection.held_out) <= set(model.features_.vocabulary_)
    assert record["selection_unit"] == "perturbation"
    assert record["selection_held_out"] == ",".join(selection.held_out)
    assert record["selection_epoch"] == selection.epoch
    assert record["selection_form"] == selection.form
    # seeded: the same seed holds out the same perturbations and scores the same
    again = get_model(name, **_params(name))
    run_model_timed(adata, split, again, ["pdcorr"])
    assert again.selection_.held_out == selection.held_out
    assert again.selection_.form_scores == selection.form_scores
    other = get_model(name, **_params(name, seed=1)).fit(train.copy())
    assert other.selection_.held_out != selection.held_out


def test_selection_holds_out_contexts_when_the_scenario_holds_out_contexts() -> None:
    sim = simulate(
        n_contexts=4, n_genes=40, n_singles=10, n_combinations=0, cells_per_condition=10, seed=3
    )
    train = sim.adata.copy()
    train.uns[c.HELD_OUT_UNIT] = "context"
    model = get_model(
        "latent_additive", **_params("latent_additive", validation_perturbations=0.25)
    )
    model.fit(train)
    assert model.selection_.unit == "context" and len(model.selection_.held_out) == 1
    assert model.selection_.held_out[0] in set(train.obs[c.CONTEXT].astype(str))


@pytest.mark.parametrize("name", SIMPLE)
def test_loss_selection_and_too_few_perturbations_train_n_epochs_on_all_cells(
    singles, name
) -> None:
    adata, split = singles
    train = adata[split.mask(adata, "train")].copy()
    model = get_model(name, **_params(name, selection="loss")).fit(train)
    assert model.selection_ is None and len(model.losses_) == 4
    assert model.effect_form_ == (name == "linear_additive")  # "auto" without selection: plain
    # 12 perturbations, 3 held out: fewer than MIN_VALIDATION_CONDITIONS, nothing is held out
    few = train[~train.obs[c.PERTURBATION].isin(sorted(_training_labels(train))[12:])].copy()
    model = get_model(name, **_params(name)).fit(few)
    assert model.selection_ is None and len(model.losses_) == 4
    _, record = run_model_timed(
        adata, split, get_model(name, **_params(name, selection="loss")), ["pdcorr"]
    )
    assert "selection_unit" not in record


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"selection": "best"}, "selection must be 'effect' or 'loss', got 'best'"),
        ({"validation_perturbations": 1.0}, r"validation_perturbations must be in \(0, 1\)"),
        ({"predict_effect": "yes"}, "predict_effect must be True, False or 'auto'"),
    ],
)
def test_invalid_selection_parameters_are_clear_model_errors(singles, params, message) -> None:
    adata, split = singles
    train = adata[split.mask(adata, "train")].copy()
    names = SIMPLE if "predict_effect" not in params else SIMPLE[1:]
    for name in names:
        with pytest.raises(ModelError, match=f"{name}: {message}"):
            get_model(name, **_params(name, **params)).fit(train)


def test_the_effect_form_is_the_control_plus_the_networks_difference(singles) -> None:
    """latent_additive: ``max(0, x0 + dec(enc(x0) + enc_p(f)) − dec(enc(x0) + enc_p(0)))``;
    decoder_only: the control mean shifted by ``dec([k, f]) − dec([k, 0])``; the plain forms are
    the network's output."""
    import torch

    adata, split = singles
    train = adata[split.mask(adata, "train")].copy()
    queries = queries_for(adata, split)
    x = queries.controls.X
    x0 = np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)
    assert x0.shape[0] <= 500  # every control is predicted (no subsample)
    seen = sorted(_training_labels(train))[0]  # a seen one-hot: a non-zero feature vector

    model = get_model("latent_additive", **_params("latent_additive", predict_effect=True))
    model.fit(train)
    f = torch.from_numpy(model.features_.transform([(seen,)]).astype(np.float32))
    k = torch.zeros(x0.shape[0], len(model.contexts_))
    with torch.no_grad():
        x = torch.from_numpy(x0)
        shifted = model.net_(x, f.expand(len(x0), -1), k).numpy()
        unperturbed = model.net_(x, torch.zeros_like(f).expand(len(x0), -1), k).numpy()
    assert np.abs(unperturbed - x0).max() > 0.1  # the network does not reconstruct x0 exactly
    one = type(queries)(
        queries.conditions.assign(**{c.PERTURBATION: seen}).iloc[:1], queries.controls
    )
    np.testing.assert_allclose(
        model.predict(one).X, np.maximum(x0 + shifted - unperturbed, 0.0), atol=1e-5
    )
    model.effect_form_ = False
    np.testing.assert_allclose(model.predict(one).X, shifted, atol=1e-5)

    decoder = get_model("decoder_only", **_params("decoder_only", predict_effect=True)).fit(train)
    f = decoder.features_.transform([(seen,)]).astype(np.float32)
    k = decoder._covariates([str(one.conditions[c.CONTEXT].iloc[0])]).astype(np.float32)
    effect = decoder._forward(x0[:1], f, k) - decoder._forward(x0[:1], np.zeros_like(f), k)
    predicted = decoder.predict(one).X.mean(axis=0) - x0.mean(axis=0)
    unclipped = (x0 + effect > 0).all(axis=0)
    np.testing.assert_allclose(predicted[unclipped], effect[0, unclipped], atol=1e-5)


def test_the_refit_trains_the_selected_number_of_epochs(singles, monkeypatch) -> None:
    """Whatever epoch validation selects, the final model is a fresh fit of ``epoch + 1`` epochs
    (its cosine spanning them) on every training cell."""
    from vcbench.models.deep.selection import Selection

    def select_second(self) -> int:
        self.form, self.epoch = "effect", 1
        return 1

    monkeypatch.setattr(Selection, "select", select_second)
    adata, split = singles
    train = adata[split.mask(adata, "train")].copy()
    model = get_model("latent_additive", **_params("latent_additive")).fit(train)
    assert model.selection_.epoch == 1 and len(model.selection_.losses) == 4
    assert len(model.losses_) == 2 and model.effect_form_
    two = get_model("latent_additive", **_params("latent_additive", n_epochs=2, selection="loss"))
    two.fit(train)
    assert model.losses_ == two.losses_  # the refit is a fit of 2 epochs on all cells
