"""PRnet (vcbench.models.deep.prnet): the shared deep-model checks and model-specific properties."""

from __future__ import annotations

import math
from dataclasses import replace
from functools import cache

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deep_model_cases import check_deep_model  # noqa: E402

from vcbench.data.simulate import simulate  # noqa: E402
from vcbench.errors import ModelError  # noqa: E402
from vcbench.models import get_model  # noqa: E402
from vcbench.models.deep.prnet import VARIANCE_FLOOR, prnet_gaussian_nll  # noqa: E402

FAST_PARAMS = {"n_epochs": 30, "lr": 3e-3}
NOISY = slice(0, 20)  # the genes given extra noise in noisy_data()
QUIET = slice(20, 40)


def test_prnet_passes_the_deep_model_checks() -> None:
    # the seen-perturbation bar needs 90 epochs (measured in deep_model_cases.py)
    check_deep_model("prnet", FAST_PARAMS, seen_params={**FAST_PARAMS, "n_epochs": 90})


def test_loss_is_normal_log_likelihood_up_to_its_constant() -> None:
    gen = torch.Generator().manual_seed(0)
    mean = torch.rand(7, 5, generator=gen) * 3
    var = torch.rand(7, 5, generator=gen) + 0.05
    x = torch.randn(7, 5, generator=gen) + mean
    log_prob = torch.distributions.Normal(mean, var.sqrt()).log_prob(x)
    expected = -log_prob.mean() - 0.5 * math.log(2 * math.pi)
    torch.testing.assert_close(prnet_gaussian_nll(mean, var, x), expected)
    # variances below the floor are clamped (torch's GaussianNLLLoss eps), not taken as they are
    tiny = torch.full_like(var, VARIANCE_FLOOR / 100)
    floor = torch.full_like(var, VARIANCE_FLOOR)
    torch.testing.assert_close(
        prnet_gaussian_nll(mean, tiny, x), prnet_gaussian_nll(mean, floor, x)
    )


def noisy_data():
    """A simulated context whose first 20 genes get extra N(0, 1) noise on every cell."""
    return _noisy_data().copy()


@cache
def _noisy_data():
    adata = simulate(
        n_contexts=1, n_genes=40, n_singles=6, n_combinations=0, cells_per_condition=60, seed=1
    ).adata
    x = adata.X.toarray()
    rng = np.random.default_rng(0)
    x[:, NOISY] = np.clip(x[:, NOISY] + rng.normal(0.0, 1.0, size=x[:, NOISY].shape), 0.0, None)
    adata.X = x
    return adata


def decoded(model, x0: torch.Tensor, inputs, noise: torch.Tensor | None = None):
    f = (inputs.features * inputs.dose[:, None]).expand(x0.shape[0], -1)
    if noise is None:
        noise = torch.zeros(x0.shape[0], model.noise_dim)
    with torch.no_grad():
        return model.net_(x0, f, noise)


@pytest.fixture(scope="module")
def fitted():
    """PRnet without noise input, fitted on noisy_data()."""
    adata = noisy_data()
    model = get_model(
        "prnet", noise_dim=0, n_epochs=40, batch_size=32, lr=3e-3, validation_fraction=0.0
    )
    model.fit(adata)
    controls = torch.from_numpy(adata[adata.obs["vcb_is_control"].to_numpy()].X)
    perturbation = str(adata.obs.loc[~adata.obs["vcb_is_control"], "vcb_perturbation"].iloc[0])
    return model, controls, model.condition_inputs("ctx0", perturbation)


def test_predicted_variance_is_positive_and_larger_for_noisier_genes(fitted) -> None:
    model, x0, inputs = fitted
    mean, var = decoded(model, x0, inputs)
    assert (var > 0).all() and (mean >= 0).all()
    per_gene = var.mean(dim=0).numpy()
    # the extra noise adds a variance of about 1 to the NOISY genes (≈ 0.1 on the QUIET ones)
    assert per_gene[NOISY].mean() > 2 * per_gene[QUIET].mean()
    assert np.median(per_gene[NOISY]) > np.quantile(per_gene[QUIET], 0.9)


def test_sampling_draws_around_the_decoded_mean_and_noise_off_keeps_it_fixed(fitted) -> None:
    model, x0, inputs = fitted
    mean, var = decoded(model, x0, inputs)
    model.sample = False
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(1)
            first = model._predict_cells(x0, inputs)
            torch.manual_seed(2)
            second = model._predict_cells(x0, inputs)
    finally:
        model.sample = True
    # without a noise input the decoded mean does not depend on the random draws
    torch.testing.assert_close(first, second)
    torch.testing.assert_close(first, mean)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(1)
        draws = model._predict_cells(x0, inputs)
    standardised = (draws - mean) / var.sqrt()
    assert not torch.allclose(draws, mean)
    assert abs(float(standardised.mean())) < 0.05
    assert abs(float(standardised.std()) - 1.0) < 0.05


def test_dose_scales_the_perturbation_input(fitted) -> None:
    model, x0, inputs = fitted
    doubled = replace(inputs, features=2 * inputs.features)
    twice = replace(inputs, dose=2 * inputs.dose)
    torch.testing.assert_close(decoded(model, x0, doubled)[0], decoded(model, x0, twice)[0])
    zero_dose = replace(inputs, dose=torch.zeros(1))
    no_features = replace(inputs, features=torch.zeros_like(inputs.features))
    torch.testing.assert_close(decoded(model, x0, zero_dose)[0], decoded(model, x0, no_features)[0])
    assert not torch.allclose(decoded(model, x0, zero_dose)[0], decoded(model, x0, inputs)[0])


def test_noise_input_changes_the_decoded_mean() -> None:
    adata = noisy_data()
    model = get_model("prnet", noise_dim=10, n_epochs=2, validation_fraction=0.0).fit(adata)
    x0 = torch.from_numpy(adata[adata.obs["vcb_is_control"].to_numpy()].X[:50])
    inputs = model.condition_inputs("ctx0", str(adata.obs["vcb_perturbation"].iloc[-1]))
    gen = torch.Generator().manual_seed(0)
    a = decoded(model, x0, inputs, torch.randn(50, 10, generator=gen))[0]
    b = decoded(model, x0, inputs, torch.randn(50, 10, generator=gen))[0]
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("params", [{"noise_dim": -1}, {"latent_dim": 0}, {"dropout": 1.0}])
def test_bad_sizes_are_refused(params: dict) -> None:
    adata = noisy_data()
    with pytest.raises(ModelError, match="prnet"):
        get_model("prnet", n_epochs=1, **params).fit(adata)
