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
from vcbench.models.deep.prnet import (  # noqa: E402
    VARIANCE_FLOOR,
    centred_sample,
    prnet_gaussian_nll,
)

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


def test_sampled_cells_keep_their_spread_and_the_decoded_mean(fitted) -> None:
    """Centred sampling: the predicted condition mean is the decoded mean ``μ`` exactly (the
    draws add no noise to the effect), while each gene keeps a spread of about ``σ``."""
    model, x0, inputs = fitted
    mean, var = decoded(model, x0, inputs)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(3)
        draws = model._predict_cells(x0, inputs)
    torch.testing.assert_close(draws.mean(dim=0), mean.mean(dim=0), atol=1e-5, rtol=0)
    ratio = (draws - mean).std(dim=0) / var.sqrt().mean(dim=0)
    assert float((ratio - 1).abs().max()) < 0.35 and abs(float(ratio.mean()) - 1) < 0.05
    # uncentred draws of as many cells have a mean off μ by about σ/√n
    gen = torch.Generator().manual_seed(3)
    raw = mean + var.sqrt() * torch.randn(mean.shape, generator=gen)
    assert float((raw.mean(dim=0) - mean.mean(dim=0)).abs().max()) > 1e-3


def test_centred_sample_has_the_mean_of_mu_and_the_spread_of_sigma() -> None:
    torch.manual_seed(0)
    mean = torch.rand(400, 30) * 3
    var = torch.rand(400, 30) + 0.1  # σ differs between cells
    cells = centred_sample(mean, var)
    torch.testing.assert_close(cells.mean(dim=0), mean.mean(dim=0), atol=1e-5, rtol=0)
    standardised = (cells - mean) / var.sqrt()
    assert abs(float(standardised.std()) - 1.0) < 0.05
    one = centred_sample(mean[:1], var[:1])  # one cell: a plain draw, not the mean
    assert not torch.allclose(one, mean[:1])


def test_decoder_starts_at_the_training_mean_and_variance() -> None:
    """Before training, the decoder's output biases put ``μ`` at the perturbed training cells'
    gene means and ``σ²`` at their variances (not ReLU(0) = 0 and softplus(0) = 0.69)."""
    adata = noisy_data()
    model = get_model("prnet", noise_dim=0, validation_fraction=0.0, selection="loss")
    model._start(adata)
    data = model.data_
    targets = data.x[~data.is_control]
    bias = model.net_.decoder[-1].bias.detach()
    n_genes = data.n_genes
    torch.testing.assert_close(bias[:n_genes], targets.mean(dim=0))
    torch.testing.assert_close(torch.nn.functional.softplus(bias[n_genes:]), targets.var(dim=0))
    model.net_.eval()
    x0 = data.x[data.is_control]
    mean, var = decoded(model, x0, model.condition_inputs("ctx0", data.labels[0]))
    level = float(targets.mean(dim=0).abs().mean())
    assert float((mean.mean(dim=0) - targets.mean(dim=0)).abs().mean()) < 0.2 * level
    assert float((var.mean(dim=0) / targets.var(dim=0)).log().abs().max()) < 0.5


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
