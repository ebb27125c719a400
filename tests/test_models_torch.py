"""The PerturBench-style torch models (skipped without torch) on seen perturbations.

"Seen" here: two contexts with nearly the same effects (small context modulation); every
perturbation is trained on in ``ctx0``, half of them also in ``ctx1``, and the other half is tested
in ``ctx1``. A model that learns the perturbations' effects must reach the bar that the lookup
baselines set there (``check_seen_bar``).
"""

from __future__ import annotations

import numpy as np
import pytest
from deep_model_cases import check_seen_bar, seen_case

from vcbench.data import contract as c
from vcbench.models import get_model

pytest.importorskip("torch")

FAST = {"n_epochs": 40, "n_threads": 1}


@pytest.fixture(scope="module")
def seen():
    return seen_case()


@pytest.mark.parametrize("name", ["linear_additive", "latent_additive", "decoder_only"])
def test_torch_model_trains_and_reaches_the_lookup_bar_on_seen_perturbations(name: str) -> None:
    model = get_model(name, **FAST)
    check_seen_bar(model)  # the bar set by perturbation_mean/additive, see deep_model_cases.py
    assert model.losses_[-1] < model.losses_[0]  # it trained


def test_linear_additive_predicts_perturbed_mean_for_an_unseen_target(seen) -> None:
    adata, split = seen
    train = adata[split.mask(adata, "train")].copy()
    model = get_model("linear_additive", n_epochs=2, n_threads=1).fit(train)
    features = model.features_.transform([("NOT_A_GENE",)])
    assert not features.any()  # unseen target: zero one-hot
    offsets = model.net_.offsets.numpy()
    is_ctx1 = (train.obs[c.CONTEXT] == "ctx1").to_numpy()
    is_control = train.obs[c.IS_CONTROL].to_numpy()
    x = train.X.toarray()
    expected = x[is_ctx1 & ~is_control].mean(axis=0) - x[is_ctx1 & is_control].mean(axis=0)
    np.testing.assert_allclose(offsets[model.contexts_.index("ctx1")], expected, atol=1e-5)


def test_embedding_features_and_parameters(seen) -> None:
    adata, split = seen
    model = get_model(
        "latent_additive", features="onehot+embedding", n_components=4, n_epochs=2, n_threads=1
    )
    model.fit(adata[split.mask(adata, "train")].copy())
    assert model.features_.n_features == len(model.features_.vocabulary_) + 4
    params = model.get_params()
    assert params["features"] == "onehot+embedding" and params["n_epochs"] == 2
    with pytest.raises(Exception, match="n_epochs and batch_size must be at least 1"):
        get_model("decoder_only", n_epochs=0).fit(adata[split.mask(adata, "train")].copy())


def test_linear_additive_keeps_an_unexpressed_gene_at_zero(seen) -> None:
    """A gene that no training cell expresses is predicted 0, not softplus(0) = 0.69 (the
    softplus output turned every unexpressed gene into an expressed one, and the scale check
    refused the demo's prediction)."""
    from vcbench.models.base import queries_for

    adata, split = seen
    adata = adata.copy()
    x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X).copy()
    x[:, 0] = 0.0  # gene 0 unexpressed everywhere
    adata.X = x
    train = adata[split.mask(adata, "train")].copy()
    model = get_model("linear_additive", n_epochs=5, n_threads=1).fit(train)
    prediction = model.predict(queries_for(adata, split))
    values = np.asarray(prediction.X)
    assert values.min() >= 0.0
    np.testing.assert_array_equal(values[:, 0], 0.0)
