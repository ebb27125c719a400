"""scLAMBDA (``sclambda``): the shared deep-model checks plus its own loss terms and invariants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from deep_model_cases import check_deep_model, combo_case  # noqa: E402

from vcbench.data import contract as c  # noqa: E402
from vcbench.data.simulate import simulate  # noqa: E402
from vcbench.errors import ModelError  # noqa: E402
from vcbench.models import get_model  # noqa: E402
from vcbench.models.base import Queries  # noqa: E402
from vcbench.models.deep.sclambda import donsker_varadhan, gaussian_kl  # noqa: E402
from vcbench.models.deep.selection import (  # noqa: E402
    SELECTION_MAX_CELLS,
    ValidationEffects,
    held_out_cells,
)
from vcbench.scenarios.singles import single_split  # noqa: E402

FAST_PARAMS = {
    "hidden": 64,
    "latent_dim": 16,
    "n_epochs": 15,
    "batch_size": 128,
    "lr": 3e-3,
    "lr_step": 100,
    "patience": None,
    "n_threads": 1,
}
TINY_PARAMS = {**FAST_PARAMS, "hidden": 16, "latent_dim": 4, "n_epochs": 2}


def test_sclambda_passes_the_deep_model_checks() -> None:
    # the seen-perturbation bar needs 45 epochs (measured in deep_model_cases.py)
    check_deep_model("sclambda", FAST_PARAMS, seen_params={**FAST_PARAMS, "n_epochs": 45})


def test_loss_terms_match_independent_formulas() -> None:
    gen = torch.Generator().manual_seed(0)
    mean = torch.randn(7, 3, generator=gen)
    log_var = torch.randn(7, 3, generator=gen)
    posterior = torch.distributions.Normal(mean, torch.exp(0.5 * log_var))
    prior = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected_kl = torch.distributions.kl_divergence(posterior, prior).sum(dim=1).mean()
    torch.testing.assert_close(gaussian_kl(mean, log_var), expected_kl)

    joint = torch.randn(50, 1, generator=gen)
    marginal = 3.0 * torch.randn(50, 1, generator=gen)
    expected_dv = joint.numpy().mean() - np.log(np.exp(marginal.numpy()).mean())
    assert float(donsker_varadhan(joint, marginal)) == pytest.approx(expected_dv, rel=1e-5)
    # the same values on joint and marginal pairs: the bound is ≤ 0 (Jensen), 0 when constant
    assert float(donsker_varadhan(marginal, marginal)) < 0
    assert float(donsker_varadhan(torch.full((9, 1), 2.0), torch.full((9, 1), 2.0))) == (
        pytest.approx(0.0, abs=1e-6)
    )


@pytest.fixture(scope="module")
def fitted_with_table():
    """A tiny fit on the simulated combination case with an embedding table in which two
    targets (``twin_a``, ``twin_b``) share one row and ``unseen`` has its own."""
    adata, split = combo_case()
    train = adata[split.mask(adata, "train")].copy()
    genes = list(adata.var_names)
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(len(genes) + 3, 5)), index=[*genes, "a", "b", "u"])
    table.loc["b"] = table.loc["a"].to_numpy()
    model = get_model("sclambda", **TINY_PARAMS, embedding=table).fit(train)
    return model, adata


def _predict(model, adata, conditions: list[tuple[str, str]]):
    controls = adata[adata.obs[c.IS_CONTROL].to_numpy()].copy()
    queries = Queries(
        conditions=pd.DataFrame(conditions, columns=[c.CONTEXT, c.PERTURBATION]),
        controls=controls,
    )
    prediction = model.predict(queries)
    return {p: prediction[prediction.obs[c.PERTURBATION] == p].X for _, p in conditions}


def test_identical_embeddings_give_identical_predictions(fitted_with_table) -> None:
    model, adata = fitted_with_table
    out = _predict(model, adata, [("ctx0", "a"), ("ctx0", "b"), ("ctx0", "u"), ("ctx0", "zz")])
    # the same embedding row gives the same prediction up to float32 rounding (the rows sit at
    # different positions of one batched matrix product, whose blocking depends on the thread
    # count): 1e-5 is ~80 float32 ulps at 1.0, far below the 1e-4 gaps between distinct inputs
    np.testing.assert_allclose(out["a"], out["b"], rtol=0, atol=1e-5)
    # an unseen target with an embedding row gets its own prediction; one without a row ("zz")
    # has the zero embedding of the controls, so it differs from both
    assert np.abs(out["a"] - out["u"]).max() > 1e-4
    assert np.abs(out["u"] - out["zz"]).max() > 1e-4
    assert all(np.isfinite(x).all() for x in out.values())


def test_adversarial_embedding_moves_each_entry_by_eps_times_the_norm(fitted_with_table) -> None:
    model, _ = fitted_with_table
    data = model.data_
    train = data.train_cells
    is_control = data.is_control[train]
    cells = torch.cat([train[is_control][:10], train[~is_control][:30]])
    f = data.cell_features(cells)
    x, k = model.x_centred_[cells], data.covariates[cells]
    moved = model._adversarial(x, f, k) - f
    norm = f.norm(dim=1, keepdim=True)
    assert (norm > 0).any() and (norm == 0).any()  # perturbed cells and controls
    expected = model.adversarial_eps * norm.expand_as(f)
    torch.testing.assert_close(moved.abs(), expected, rtol=1e-4, atol=1e-7)  # controls stay put


def test_bad_parameters_raise_a_clear_error() -> None:
    adata, split = combo_case()
    train = adata[split.mask(adata, "train")].copy()
    with pytest.raises(ModelError, match="lambda_mi"):
        get_model("sclambda", **TINY_PARAMS, lambda_mi=-1.0).fit(train)
    with pytest.raises(ModelError, match="sigma_x_sq"):
        get_model("sclambda", **TINY_PARAMS, sigma_x_sq=0.0).fit(train)


def test_counterfactual_selection_keeps_the_selected_model_without_held_out_cells() -> None:
    """The final model is the selection-time model at the selected epoch (as the reference; a
    refit did not reproduce it, module docstring): it has never seen a held-out perturbation's
    cell, and its prediction of the validation conditions gives back the recorded score (a refit,
    trained on those conditions for the same epochs, scores them differently)."""
    sim = simulate(
        n_contexts=1, n_genes=60, n_singles=50, n_combinations=0, cells_per_condition=12, seed=1
    )
    train = sim.adata[single_split(sim.adata, seed=0).mask(sim.adata, "train")].copy()
    model = get_model("sclambda", **{**FAST_PARAMS, "n_epochs": 6}).fit(train)
    selection = model.selection_
    assert selection is not None and not selection.refit
    assert not set(selection.held_out) & set(model.data_.labels)
    assert model.data_.x.shape[0] < train.n_obs
    _, labels, mask = held_out_cells(train.obs, "perturbation", 0.2, model.seed)
    assert labels == selection.held_out
    kept = train[~mask]
    target = ValidationEffects.from_cells(train[mask], kept)
    queries = Queries(target.conditions, kept[kept.obs[c.IS_CONTROL].to_numpy(dtype=bool)])
    predicted = model._predict(
        queries, max_cells=SELECTION_MAX_CELLS, effect=selection.form == "effect"
    )
    assert target.score(predicted) == pytest.approx(selection.score, abs=1e-6)
