"""The shared energy distance against a brute-force double loop."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from vcbench.distances import energy_distance, subsample_rows


def _brute_force(x: np.ndarray, y: np.ndarray) -> float:
    between = np.mean([np.linalg.norm(a - b) for a in x for b in y])
    within_x = np.mean(
        [np.linalg.norm(x[i] - x[j]) for i, j in itertools.permutations(range(len(x)), 2)]
    )
    within_y = np.mean(
        [np.linalg.norm(y[i] - y[j]) for i, j in itertools.permutations(range(len(y)), 2)]
    )
    return 2 * between - within_x - within_y


def test_energy_distance_matches_a_double_loop() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 4)), rng.normal(loc=0.5, size=(5, 4))
    assert energy_distance(x, y) == pytest.approx(_brute_force(x, y))


def test_energy_distance_is_symmetric_and_grows_with_the_shift() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3))
    near, far = rng.normal(loc=0.2, size=(60, 3)), rng.normal(loc=2.0, size=(60, 3))
    assert energy_distance(x, near) == pytest.approx(energy_distance(near, x))
    assert energy_distance(x, far) > energy_distance(x, near)
    assert np.isnan(energy_distance(x[:1], near))


def test_subsample_rows_is_seeded_and_bounded() -> None:
    x = np.arange(100).reshape(50, 2)
    a, b = subsample_rows(x, 10, seed=3), subsample_rows(x, 10, seed=3)
    assert a.shape == (10, 2) and np.array_equal(a, b)
    assert subsample_rows(x, None) is x
