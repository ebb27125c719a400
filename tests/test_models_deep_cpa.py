"""CPA (vcbench.models.deep.cpa): the shared deep-model checks and CPA-specific properties."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deep_model_cases import check_deep_model, check_seen_bar, seen_case  # noqa: E402

from vcbench.errors import ModelError  # noqa: E402
from vcbench.models import get_model  # noqa: E402
from vcbench.models.deep.cpa import _CPANet, _Doser, gaussian_loss, nb_loss  # noqa: E402

FAST_PARAMS = {"n_epochs": 20}


def test_cpa_passes_the_deep_model_checks() -> None:
    check_deep_model("cpa", FAST_PARAMS, seen_bar=False)  # the bar: the expected failure below


@pytest.mark.xfail(
    strict=True,
    reason="model fidelity (issue #16): on seen perturbations CPA reaches pdcorr 0.35 and rmse "
    "1.12 at 20 epochs (0.70 / 0.87 at its default 60, 0.74 / 0.83 at 200; 2026-12-04, the "
    "variational basal latent), below the bar of 0.79 (80% of perturbation_mean's 0.98) and "
    "0.70 (half-way from perturbed_mean's 1.17 to perturbation_mean's 0.22)",
)
def test_cpa_reaches_the_seen_perturbation_bar() -> None:
    check_seen_bar(get_model("cpa", **FAST_PARAMS))


@pytest.fixture(scope="module")
def seen_train():
    adata, split = seen_case()
    return adata[split.mask(adata, "train")].copy()


@pytest.fixture(scope="module")
def fitted(seen_train):
    """CPA with its adversarial term (default) and without it (``reg_adversary=0``), with the
    deterministic encoder (the variational one's KL term also strips the basal latent)."""
    return {
        reg: get_model("cpa", n_epochs=8, reg_adversary=reg, variational=False).fit(seen_train)
        for reg in (20.0, 0.0)
    }


def test_losses_match_torch_distributions() -> None:
    gen = torch.Generator().manual_seed(0)
    mean = torch.rand(5, 7, generator=gen) * 3
    variance = torch.rand(5, 7, generator=gen) + 0.1
    x = torch.randn(5, 7, generator=gen)
    normal = torch.distributions.Normal(mean, variance.sqrt())
    expected = -normal.log_prob(x).mean() - 0.5 * np.log(2 * np.pi)  # constant dropped
    torch.testing.assert_close(gaussian_loss(mean, variance, x), expected)

    mu = torch.rand(5, 7, generator=gen) * 20 + 0.1
    theta = torch.rand(7, generator=gen) * 5 + 0.2
    counts = torch.poisson(mu, generator=gen)
    nb = torch.distributions.NegativeBinomial(
        total_count=theta.expand_as(mu), logits=torch.log(mu) - torch.log(theta)
    )
    torch.testing.assert_close(nb.mean, mu)  # the parametrisation: mean μ, inverse dispersion θ
    torch.testing.assert_close(nb_loss(mu, theta, counts), -nb.log_prob(counts).mean())


def test_variational_basal_latent_and_its_kl_divergence() -> None:
    model = get_model("cpa")
    net = _CPANet(6, 0, 0, 1, 1, model)
    assert net.encoder[-1].out_features == 2 * model.n_latent  # mean and log-variance
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        net.encoder[-1].weight.copy_(torch.randn(net.encoder[-1].weight.shape, generator=gen))
    net.eval()
    x = torch.randn(4, 6, generator=gen)
    with torch.no_grad():
        mean, kl = net.basal(x)
        code = net.encoder(x)
        mu, log_var = code.chunk(2, dim=1)
        posterior = torch.distributions.Normal(mu, (0.5 * log_var).exp())
        prior = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
        expected = torch.distributions.kl_divergence(posterior, prior).mean(dim=1)
        torch.testing.assert_close(mean, mu)  # no sampling at prediction
        torch.testing.assert_close(kl, expected)  # KL(q(z_b | x) || N(0, I)), mean over dimensions
        torch.manual_seed(1)
        sampled, _ = net.basal(x, sample=True)
    spread = (sampled - mu) / (0.5 * log_var).exp()  # standard normal draws
    assert 0.5 < spread.std().item() < 1.5 and not torch.equal(sampled, mu)
    deterministic = _CPANet(6, 0, 0, 1, 1, get_model("cpa", variational=False))
    deterministic.eval()
    with torch.no_grad():
        z, kl = deterministic.basal(x)
    torch.testing.assert_close(z, deterministic.encoder(x))
    assert not kl.any()


def test_dosers_vanish_at_zero_dose_and_rise_with_it() -> None:
    dose = torch.tensor([0.0, 0.5, 1.0, 2.0])
    for kind in ("sigm", "logsigm", "linear"):
        doser = _Doser(3, kind)
        with torch.no_grad():
            doser.bias.copy_(torch.tensor([-1.0, 0.0, 2.0]))
        scale = doser(dose)
        assert scale.shape == (4, 3)
        torch.testing.assert_close(scale[0], torch.zeros(3))
        assert (scale.diff(dim=0) > 0).all()  # β = 1 > 0: monotone dose response
    sigm, logsigm = _Doser(1, "sigm"), _Doser(1, "logsigm")
    torch.testing.assert_close(logsigm(dose), sigm(torch.log1p(dose)))


def test_adversaries_strip_perturbation_and_context_from_the_basal_latent(fitted) -> None:
    cells = fitted[20.0].data_.train_cells
    with_adversary = fitted[20.0].adversary_accuracy(cells)
    without = fitted[0.0].adversary_accuracy(cells)
    assert with_adversary["perturbation"] < without["perturbation"] - 0.1
    assert with_adversary["context"] < without["context"]


def test_an_unseen_target_moves_the_prediction_through_its_embedding(fitted) -> None:
    model = fitted[20.0]
    unseen = next(g for g in model.genes_ if g not in model.features_.vocabulary_)
    inputs = model.condition_inputs("ctx1", unseen)
    n_onehot = len(model.features_.vocabulary_)
    assert inputs.features[0, :n_onehot].abs().sum() == 0  # no free embedding of its own
    assert inputs.features[0, n_onehot:].abs().sum() > 0
    x0 = model.data_.x[model.data_.train_cells[:50]]
    with torch.no_grad():
        perturbed = model._predict_cells(x0, inputs)
        featureless = model._predict_cells(
            x0, replace(inputs, features=torch.zeros_like(inputs.features))
        )
        control = model._predict_cells(
            x0, replace(inputs, features=torch.zeros_like(inputs.features), dose=torch.zeros(1))
        )
        zero_dose = model._predict_cells(x0, replace(inputs, dose=torch.zeros(1)))
    assert (perturbed - featureless).abs().max() > 1e-3  # its embedding moves it
    assert (featureless - control).abs().max() > 1e-3  # the shared perturbed embedding
    torch.testing.assert_close(zero_dose, control)  # s(0) = 0: dose 0 is the control


def test_negative_binomial_likelihood_uses_counts(seen_train) -> None:
    model = get_model("cpa", likelihood="nb", n_epochs=2, adversary_steps=3)
    assert model.needs_counts and not get_model("cpa").needs_counts
    model.fit(seen_train)
    assert model.net_.decoder[-1].out_features == seen_train.n_vars  # ρ only, no variance
    cells = model.data_.train_cells[:20]
    inputs = model.condition_inputs("ctx0", "control")
    with torch.no_grad():
        predicted = model._predict_cells(model.data_.x[cells], inputs)
    assert torch.isfinite(predicted).all() and (predicted >= 0).all()
    without_counts = seen_train.copy()
    del without_counts.layers["counts"]
    with pytest.raises(ModelError, match="counts"):
        get_model("cpa", likelihood="nb", n_epochs=1).fit(without_counts)


@pytest.mark.parametrize(
    ("param", "value"),
    [("likelihood", "poisson"), ("doser", "mlp"), ("adversary_steps", 1), ("reg_adversary", -1.0)],
)
def test_bad_parameters_raise_a_clear_error(seen_train, param: str, value) -> None:
    with pytest.raises(ModelError, match=param):
        get_model("cpa", n_epochs=1, **{param: value}).fit(seen_train)
