"""The adapters' data conversion (models/adapters/conversion.py), run in CI without the packages.

scGen (pertpy) and STATE (arc-state) are not installed by CI; what vcbench hands to them and reads
back is checked here against hand computations.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from vcbench.data import contract as c
from vcbench.models.adapters.conversion import (
    CONTEXT_KEY,
    PERTURBATION_KEY,
    cell_set_batch,
    cells_prediction,
    latent_deltas,
    subsample_controls,
    training_frame,
    training_groups,
)
from vcbench.models.base import PREDICTION_KEY

CONTEXT = np.array(["k1", "k1", "k1", "k1", "k2", "k2", "k2", "k3"])
LABELS = np.array(["ctrl", "ctrl", "A", "A", "ctrl", "A", "B", "A"])
IS_CONTROL = LABELS == "ctrl"


def _train() -> ad.AnnData:
    x = sparse.csr_matrix(np.arange(16, dtype=np.float64).reshape(8, 2))
    obs = pd.DataFrame(
        {c.CONTEXT: CONTEXT, c.PERTURBATION: LABELS}, index=[f"cell{i}" for i in range(8)]
    )
    return ad.AnnData(x, obs, pd.DataFrame(index=["g0", "g1"]))


def test_training_frame_is_dense_float32_with_the_registered_columns() -> None:
    frame = training_frame(_train(), IS_CONTROL)
    assert frame.X.dtype == np.float32 and not sparse.issparse(frame.X)
    np.testing.assert_array_equal(frame.X, np.arange(16).reshape(8, 2))
    assert list(frame.obs_names) == [f"cell{i}" for i in range(8)]
    assert list(frame.var_names) == ["g0", "g1"]
    assert isinstance(frame.obs[CONTEXT_KEY].dtype, pd.CategoricalDtype)
    assert frame.obs[PERTURBATION_KEY].tolist() == LABELS.tolist()
    assert frame.obs[c.IS_CONTROL].tolist() == IS_CONTROL.tolist()


def test_latent_deltas_average_per_context_shifts() -> None:
    latent = np.array([[0.0], [2.0], [5.0], [7.0], [10.0], [13.0], [20.0], [100.0]])
    deltas = latent_deltas(latent, LABELS, CONTEXT, IS_CONTROL)
    # A: k1 (6 − 1), k2 (13 − 10), k3 has no controls: 100 − mean of all controls (4)
    assert deltas["A"] == pytest.approx([(5.0 + 3.0 + 96.0) / 3])
    assert deltas["B"] == pytest.approx([20.0 - 10.0])
    assert set(deltas) == {"A", "B"}


def test_training_groups_pair_each_condition_with_its_contexts_controls() -> None:
    groups = training_groups(CONTEXT, LABELS, IS_CONTROL)
    got = [(cells.tolist(), pool.tolist(), label) for cells, pool, label in groups]
    assert got == [
        ([2, 3], [0, 1], "A"),
        ([5], [4], "A"),
        ([6], [4], "B"),
        ([7], [0, 1, 4], "A"),  # k3 has no controls: every control cell
    ]


def test_cell_set_batch_draws_from_the_groups_pools() -> None:
    x = np.arange(16, dtype=np.float32).reshape(8, 2)
    groups = training_groups(CONTEXT, LABELS, IS_CONTROL)
    features = np.eye(4, dtype=np.float32)
    target, basal, pert = cell_set_batch(
        x, groups, features, np.array([0, 3]), 3, np.random.default_rng(0)
    )
    assert target.shape == (2, 3, 2) and basal.shape == (6, 2) and pert.shape == (6, 4)
    rows = {tuple(r) for r in x}
    assert {tuple(r) for r in target[0]} <= {tuple(x[2]), tuple(x[3])}
    assert {tuple(r) for r in target[1]} == {tuple(x[7])}
    assert {tuple(r) for r in basal[:3]} <= {tuple(x[0]), tuple(x[1])}
    assert {tuple(r) for r in basal[3:]} <= {tuple(x[i]) for i in (0, 1, 4)} <= rows
    np.testing.assert_array_equal(pert, np.repeat(features[[0, 3]], 3, axis=0))
    # a pool at least as large as the set is drawn without replacement
    big = [(np.arange(5), np.arange(5), "A")]
    sample, _, _ = cell_set_batch(x, big, features, np.array([0]), 5, np.random.default_rng(1))
    assert len({tuple(r) for r in sample[0]}) == 5


def test_subsample_controls_is_seeded_ordered_and_bounded() -> None:
    controls = _train()
    assert subsample_controls(controls, None, np.random.default_rng(0)) is controls
    assert subsample_controls(controls, 8, np.random.default_rng(0)) is controls
    a = subsample_controls(controls, 3, np.random.default_rng(4))
    b = subsample_controls(controls, 3, np.random.default_rng(4))
    assert a.n_obs == 3 and list(a.obs_names) == list(b.obs_names)
    positions = [controls.obs_names.get_loc(n) for n in a.obs_names]
    assert positions == sorted(positions)


def test_cells_prediction_assembles_blocks_in_order() -> None:
    genes = pd.Index(["g0", "g1"])
    blocks = [("k1", "A", np.ones((2, 2))), ("k2", "B", np.zeros((1, 2)))]
    prediction = cells_prediction(blocks, genes, "a method")
    assert prediction.X.dtype == np.float32
    np.testing.assert_array_equal(prediction.X, [[1, 1], [1, 1], [0, 0]])
    assert prediction.obs[c.CONTEXT].tolist() == ["k1", "k1", "k2"]
    assert prediction.obs[c.PERTURBATION].tolist() == ["A", "A", "B"]
    assert list(prediction.obs_names) == ["0", "1", "2"]
    assert prediction.uns[PREDICTION_KEY] == {"level": "cells", "method": "a method"}
    empty = cells_prediction([], genes, "none")
    assert empty.shape == (0, 2)
