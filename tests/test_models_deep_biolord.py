"""biolord (vcbench.models.deep.biolord): the shared deep-model checks and its own properties."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from deep_model_cases import check_deep_model, combo_case  # noqa: E402

from vcbench.errors import ModelError  # noqa: E402
from vcbench.models import get_model  # noqa: E402
from vcbench.models.deep.biolord import reconstruction_loss  # noqa: E402

FAST_PARAMS = {"n_epochs": 30, "batch_size": 64, "infer_steps": 50}


@pytest.fixture(scope="module")
def fitted():
    adata, split = combo_case()
    train = adata[split.mask(adata, "train")].copy()
    return get_model("biolord", n_epochs=5, infer_steps=60).fit(train)


def test_biolord_passes_the_deep_model_checks() -> None:
    check_deep_model("biolord", FAST_PARAMS)


def test_reconstruction_loss_is_gaussian_nll_plus_penalised_mse() -> None:
    gen = torch.Generator().manual_seed(0)
    mean, log_var, x = (torch.randn(7, 5, generator=gen) for _ in range(3))
    var = torch.exp(log_var)
    # biolord's own formulation: torch's GaussianNLLLoss + penalty · MSELoss (means over elements)
    expected = torch.nn.GaussianNLLLoss()(mean, x, var) + 3.0 * torch.nn.MSELoss()(mean, x)
    got = reconstruction_loss(mean, log_var, x, 3.0).mean()
    torch.testing.assert_close(got, expected)
    # and per cell: −log N(x; μ, σ²) averaged over genes, without the ½·log 2π constant
    normal = torch.distributions.Normal(mean, var.sqrt())
    per_cell = -normal.log_prob(x).mean(dim=1) - 0.5 * torch.log(torch.tensor(2 * torch.pi))
    torch.testing.assert_close(reconstruction_loss(mean, log_var, x, 0.0), per_cell)


def test_control_attributes_embed_to_zero_and_unseen_perturbations_do_not(fitted) -> None:
    net, data = fitted.net_, fitted.data_
    net.train()  # dropout on: zero must stay zero
    n = 4
    control = net.perturbation_net(torch.zeros(n, data.n_features + 1))
    assert torch.equal(control, torch.zeros_like(control))
    net.eval()
    _, split = combo_case()
    conditions = split.test_conditions
    label = conditions.loc[conditions["split_category"] == "single_unseen", "vcb_perturbation"]
    unseen = fitted.condition_inputs("ctx0", str(label.iloc[0]))
    n_onehot = len(fitted.features_.vocabulary_)
    assert unseen.features[:, :n_onehot].abs().sum() == 0  # not a seen target
    assert unseen.features[:, n_onehot:].abs().sum() > 0  # but embedded (training PCA)
    embedded = net.attributes(unseen.covariates, unseen.features, unseen.dose)
    assert embedded[:, fitted.n_latent_attribute_categorical :].abs().sum() > 0


def test_latent_inference_lowers_the_objective_below_the_trained_latents(fitted) -> None:
    net, data = fitted.net_, fitted.data_
    cells = data.train_cells[data.is_control[data.train_cells]][:20]
    x, k = data.x[cells], data.covariates[cells]
    zeros = torch.zeros(len(cells), data.n_features)
    attributes = net.attributes(k, zeros, torch.zeros(len(cells)))

    def objective(z: torch.Tensor) -> torch.Tensor:
        mean, log_var = net.decode(z, attributes)
        loss = reconstruction_loss(mean, log_var, x, fitted.reconstruction_penalty)
        return loss + fitted.unknown_attribute_penalty * (z**2).sum(dim=1)

    with torch.no_grad():
        inferred = fitted.infer_latents(x, k[:1])
        trained = net.latents(cells)
        assert (objective(inferred) <= objective(trained) + 1e-4).all()
        assert objective(inferred).sum() < objective(torch.zeros_like(trained)).sum()
        # inference is deterministic and leaves the model untouched
        assert torch.equal(inferred, fitted.infer_latents(x, k[:1]))
    assert all(p.requires_grad for p in net.parameters())


def test_swapping_to_control_returns_the_reconstruction_and_a_perturbation_changes_it(
    fitted,
) -> None:
    data = fitted.data_
    cells = data.train_cells[data.is_control[data.train_cells]][:15]
    x0 = data.x[cells]
    control = fitted.condition_inputs("ctx0", data.labels[0])
    control = type(control)(
        "ctx0", "ctrl", torch.zeros_like(control.features), control.covariates,
        torch.zeros(1), True,
    )  # fmt: skip
    with torch.no_grad():
        reconstruction, _ = fitted.net_.decode(
            fitted.infer_latents(x0, control.covariates),
            fitted.net_.attributes(
                control.covariates.expand(len(cells), -1),
                torch.zeros(len(cells), data.n_features),
                torch.zeros(len(cells)),
            ),
        )
        as_control = fitted._predict_cells(x0, control)
        perturbed = fitted._predict_cells(x0, fitted.condition_inputs("ctx0", data.labels[0]))
    torch.testing.assert_close(as_control, reconstruction)
    assert (perturbed - as_control).abs().mean() > 1e-3


def test_bad_sizes_raise_a_clear_error() -> None:
    adata, split = combo_case()
    train = adata[split.mask(adata, "train")].copy()
    with pytest.raises(ModelError, match="biolord"):
        get_model("biolord", n_latent=0, n_epochs=1).fit(train)
