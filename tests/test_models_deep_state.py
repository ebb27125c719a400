"""STATE (vcbench.models.deep.state): the shared deep-model checks and model-specific properties."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from deep_model_cases import check_deep_model  # noqa: E402

from vcbench.data.simulate import simulate  # noqa: E402
from vcbench.distances import energy_distance as numpy_energy_distance  # noqa: E402
from vcbench.errors import ModelError  # noqa: E402
from vcbench.models import get_model  # noqa: E402
from vcbench.models.deep.state import _Groups, energy_distance, gaussian_mmd  # noqa: E402

FAST_PARAMS = {"n_epochs": 30, "hidden": 32, "set_size": 32, "batch_size": 128, "lr": 3e-3}


def test_state_passes_the_deep_model_checks() -> None:
    check_deep_model("state", FAST_PARAMS)


def brute_force_energy(x: np.ndarray, y: np.ndarray) -> float:
    """The V-statistic energy distance by a double loop over all pairs."""

    def mean_distance(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean([[np.linalg.norm(u - v) for v in b] for u in a]))

    return 2 * mean_distance(x, y) - mean_distance(x, x) - mean_distance(y, y)


def test_energy_distance_matches_brute_force_and_the_project_definition() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 5)), rng.normal(0.5, 1.5, size=(9, 5))
    value = float(energy_distance(torch.from_numpy(x), torch.from_numpy(y)))
    assert value == pytest.approx(brute_force_energy(x, y), rel=1e-9)
    assert value > 0
    # vcbench.distances uses distinct pairs within each set (U-statistic): rescale those terms
    n, m = len(x), len(y)
    within = [float(np.mean(np.linalg.norm(a[:, None] - a[None], axis=-1))) for a in (x, y)]
    between = (numpy_energy_distance(x, y) + within[0] * n / (n - 1) + within[1] * m / (m - 1)) / 2
    assert value == pytest.approx(2 * between - within[0] - within[1], rel=1e-9)
    # identical sets: zero, also in float32 with a batch of sets
    sets = torch.randn(3, 16, 40, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(energy_distance(sets, sets.clone()), torch.zeros(3))
    batched = energy_distance(sets, sets.flip(0) + 1.0)
    single = torch.stack([energy_distance(sets[i], sets.flip(0)[i] + 1.0) for i in range(3)])
    torch.testing.assert_close(batched, single)
    assert (batched > 0).all()


def test_energy_gradient_is_finite_when_predicted_cells_coincide() -> None:
    x = torch.zeros(4, 6, requires_grad=True)  # all predicted cells equal: zero distances
    energy_distance(x, torch.ones(5, 6)).backward()
    assert torch.isfinite(x.grad).all() and (x.grad < 0).all()  # moves towards the targets


def test_gaussian_mmd_matches_brute_force_with_the_median_bandwidth() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(6, 4)), rng.normal(1.0, 1.0, size=(8, 4))
    pooled = np.vstack([x, y])
    d2 = ((pooled[:, None] - pooled[None]) ** 2).sum(-1)
    sigma2 = np.sort(d2.ravel())[(d2.size - 1) // 2]  # torch's median: the lower one
    kernel = np.exp(-d2 / (2 * sigma2))
    expected = kernel[:6, :6].mean() + kernel[6:, 6:].mean() - 2 * kernel[:6, 6:].mean()
    value = float(gaussian_mmd(torch.from_numpy(x), torch.from_numpy(y)))
    assert value == pytest.approx(expected, rel=1e-6)
    same = torch.from_numpy(x)
    assert float(gaussian_mmd(same, same.clone())) == pytest.approx(0.0, abs=1e-12)


def small_data():
    return simulate(
        n_contexts=1, n_genes=30, n_singles=5, n_combinations=0, cells_per_condition=40, seed=4
    ).adata


@pytest.fixture(scope="module")
def fitted():
    """A small STATE fitted for a few epochs (dropout on, so eval mode matters)."""
    adata = small_data()
    model = get_model("state", hidden=32, set_size=16, n_epochs=3, validation_fraction=0.0)
    model.fit(adata)
    controls = torch.from_numpy(adata[adata.obs["vcb_is_control"].to_numpy()].X.toarray())
    perturbation = str(adata.obs.loc[~adata.obs["vcb_is_control"], "vcb_perturbation"].iloc[0])
    return model, controls, model.condition_inputs("ctx0", perturbation)


def forward(model, sets: torch.Tensor, inputs) -> torch.Tensor:
    p = torch.cat([inputs.features, inputs.dose[:, None]], dim=1).expand(sets.shape[0], -1)
    with torch.no_grad():
        return model.net_(sets, p)


def test_the_map_is_permutation_equivariant_and_mixes_the_set(fitted) -> None:
    model, controls, inputs = fitted
    x0 = controls[:16][None]
    out = forward(model, x0, inputs)
    shuffle = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(forward(model, x0[:, shuffle], inputs), out[:, shuffle])
    # attention mixes cells: replacing one cell of the set changes the prediction of another
    other = x0.clone()
    other[0, 0] = controls[20]
    assert not torch.allclose(forward(model, other, inputs)[0, 1:], out[0, 1:])
    # the perturbation input matters
    zero = replace(inputs, features=torch.zeros_like(inputs.features))
    assert not torch.allclose(forward(model, x0, zero), out)


def test_prediction_splits_controls_into_sets_and_drops_the_filler(fitted) -> None:
    model, controls, inputs = fitted
    x0 = controls[:21]  # one full set of 16 and one of 5 cells filled up to 16
    with torch.no_grad():
        predicted = model._predict_cells(x0, inputs)
    assert predicted.shape == (21, controls.shape[1])
    torch.testing.assert_close(predicted[:16], forward(model, x0[None, :16], inputs)[0])
    few = controls[:5]  # fewer cells than a set: one set of exactly those cells
    with torch.no_grad():
        torch.testing.assert_close(
            model._predict_cells(few, inputs), forward(model, few[None], inputs)[0]
        )


def test_set_draws_are_without_replacement_and_cycle_small_groups(fitted) -> None:
    model, _, _ = fitted
    groups: _Groups = model._train_groups
    big = int(torch.argmax(groups.counts))
    small = _Groups(
        order=torch.arange(3), starts=torch.zeros(1, dtype=torch.long),
        counts=torch.tensor([3]), context=torch.zeros(1, dtype=torch.long),
        condition=torch.zeros(1, dtype=torch.long), dose=torch.ones(1),
    )  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    drawn = groups.draw(torch.tensor([big, big]), 16, generator)
    members = set(
        groups.order[groups.starts[big] : groups.starts[big] + groups.counts[big]].tolist()
    )
    for row in drawn.tolist():
        assert len(set(row)) == 16 and set(row) <= members
    assert drawn[0].tolist() != drawn[1].tolist()  # fresh draws
    cycled = small.draw(torch.tensor([0]), 8, generator)[0]
    assert sorted(torch.bincount(cycled, minlength=3).tolist()) == [2, 3, 3]


def test_mmd_loss_trains() -> None:
    params = {"hidden": 32, "set_size": 16, "batch_size": 32, "n_epochs": 30, "lr": 3e-3}
    model = get_model("state", loss="mmd", **params).fit(small_data())
    val = [h["val_loss"] for h in model.history_]
    # the validation sets are fixed, so their loss tracks learning (training sets vary by step)
    assert np.isfinite(val).all() and min(val) < 0.5 * val[0]
    assert val[0] < 2.0  # a squared MMD with a Gaussian kernel is at most 2


@pytest.mark.parametrize(
    "params", [{"loss": "sinkhorn"}, {"hidden": 30, "n_heads": 4}, {"set_size": 0}]
)
def test_bad_parameters_are_refused(params: dict) -> None:
    with pytest.raises(ModelError, match="state"):
        get_model("state", n_epochs=1, **params).fit(small_data())
