"""SAMS-VAE (vcbench.models.deep.sams_vae): the shared deep-model checks and its own properties."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deep_model_cases import check_deep_model, seen_case  # noqa: E402
from torch.distributions import Bernoulli, Normal, RelaxedBernoulli, kl_divergence  # noqa: E402

from vcbench.errors import ModelError  # noqa: E402
from vcbench.models import get_model  # noqa: E402
from vcbench.models.deep.sams_vae import (  # noqa: E402
    bernoulli_kl,
    normal_kl,
    relaxed_bernoulli_straight_through,
)

FAST_PARAMS = {
    "latent_dim": 32,
    "hidden": 128,
    "n_particles": 1,
    "n_epochs": 40,
    "lr": 1e-2,
    "patience": None,
}


def test_sams_vae_passes_the_deep_model_checks() -> None:
    # the seen-perturbation bar needs 120 epochs (measured in deep_model_cases.py)
    check_deep_model("sams_vae", FAST_PARAMS, seen_params={**FAST_PARAMS, "n_epochs": 120})


def test_straight_through_mask_samples_match_torch_relaxed_bernoulli() -> None:
    logits = torch.linspace(-3.0, 3.0, 12).repeat(50, 1).requires_grad_(True)
    weights = torch.randn(logits.shape, generator=torch.Generator().manual_seed(1))
    sample = relaxed_bernoulli_straight_through(logits, 0.7, torch.Generator().manual_seed(5))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)  # the same uniform draws as the generator above
        reference_logits = logits.detach().clone().requires_grad_(True)
        relaxed = RelaxedBernoulli(torch.tensor(0.7), logits=reference_logits).rsample()
    # forward: the hard rounding of torch's relaxed sample; backward: the relaxed sample's gradient
    torch.testing.assert_close(sample.detach(), (relaxed.detach() > 0.5).float())
    assert set(sample.detach().unique().tolist()) <= {0.0, 1.0}
    (sample * weights).sum().backward()
    (relaxed * weights).sum().backward()
    torch.testing.assert_close(logits.grad, reference_logits.grad)


@pytest.mark.parametrize("temperature", [0.1, 1.0, 5.0])
def test_hard_mask_samples_are_bernoulli_for_any_temperature(temperature: float) -> None:
    logits = torch.tensor([-2.0, 0.0, 1.5]).expand(40_000, -1)
    sample = relaxed_bernoulli_straight_through(
        logits, temperature, torch.Generator().manual_seed(0)
    )
    np.testing.assert_allclose(sample.mean(dim=0), torch.sigmoid(logits[0]), atol=0.01)


def test_kl_terms_match_torch_distributions() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = 4 * torch.randn(7, 5, generator=generator)
    for prior in (0.01, 0.3):
        expected = kl_divergence(Bernoulli(logits=logits), Bernoulli(probs=torch.tensor(prior)))
        torch.testing.assert_close(bernoulli_kl(logits, prior), expected, rtol=1e-4, atol=1e-5)
    loc = torch.randn(7, 5, generator=generator)
    scale = torch.rand(7, 5, generator=generator) + 0.1
    for prior_scale in (1.0, 2.5):
        expected = kl_divergence(Normal(loc, scale), Normal(0.0, prior_scale))
        torch.testing.assert_close(normal_kl(loc, scale, prior_scale), expected)


def test_a_sparse_mask_prior_gives_sparser_masks() -> None:
    """π = 0.01 switches few masks on, π = 0.99 many (with π = 0.01, check_deep_model above shows
    that seen perturbations are still predicted)."""
    adata, split = seen_case()
    train = adata[split.mask(adata, "train")].copy()
    probs = {
        # all epochs (the prior's pull, not the selection, is under test)
        prior: get_model("sams_vae", **FAST_PARAMS, mask_prior_prob=prior, selection="loss")
        .fit(train)
        .mask_probabilities()
        .to_numpy()
        for prior in (0.01, 0.99)
    }
    assert probs[0.01].shape == (len(probs[0.01]), FAST_PARAMS["latent_dim"])
    assert (probs[0.01] > 0.5).mean() < 0.3 < 0.5 < (probs[0.99] > 0.5).mean()
    assert probs[0.01].mean() < 0.5 and probs[0.01].mean() < probs[0.99].mean()


def test_a_combination_shifts_the_latent_by_the_sum_of_its_parts() -> None:
    adata, split = seen_case()
    model = get_model("sams_vae", **{**FAST_PARAMS, "n_epochs": 2})
    model.fit(adata[split.mask(adata, "train")].copy())
    a, b = model.mask_probabilities().index[:2]
    np.testing.assert_allclose(
        model.latent_shift(f"{a}+{b}"),
        model.latent_shift(a) + model.latent_shift(b),
        rtol=1e-5,
        atol=1e-6,
    )
    unseen = model.latent_shift("NOT_A_TRAINING_TARGET")
    assert np.isfinite(unseen).all() and unseen.shape == (FAST_PARAMS["latent_dim"],)
    assert np.all(model.latent_shift("control") == 0)


def test_shift_prediction_keeps_the_control_cells_without_a_shift() -> None:
    adata, split = seen_case()
    model = get_model("sams_vae", **{**FAST_PARAMS, "n_epochs": 2, "prediction": "shift"})
    model.fit(adata[split.mask(adata, "train")].copy())
    x0 = torch.rand(5, adata.n_vars, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        unchanged = model._predict_cells(x0, model.condition_inputs("ctx1", "control"))
        a = model.mask_probabilities().index[0]
        shifted = model._predict_cells(x0, model.condition_inputs("ctx1", a))
        model.prediction = "decoded"
        decoded = model._predict_cells(x0, model.condition_inputs("ctx1", a))
    torch.testing.assert_close(unchanged, x0)
    assert not torch.allclose(shifted, x0)
    assert not torch.allclose(decoded, shifted)


@pytest.mark.parametrize(
    "bad",
    [
        {"mask_prior_prob": 0.0},
        {"mask_prior_prob": 1.5},
        {"temperature": 0.0},
        {"n_particles": 0},
        {"prediction": "sample"},
    ],
)
def test_bad_parameters_raise_a_clear_error(bad: dict) -> None:
    adata, split = seen_case()
    with pytest.raises(ModelError, match="sams_vae"):
        get_model("sams_vae", **bad).fit(adata[split.mask(adata, "train")].copy())
