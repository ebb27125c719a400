"""Representation coverage of a task: which test perturbations the fitted model could represent.

A test perturbation is *covered* when every one of its targets has a representation in the model's
featuriser (``vcbench.knowledge.featurize.PerturbationFeatures.coverage``: a GO embedding,
fingerprint, table row or training PCA row; for one-hot features, a target seen in training), or,
for a model with its own representation (``represents_target(target)``, e.g. GEARS's graph nodes),
when the model says so. The
task's coverage is the share of covered test perturbations; each uncovered one gets a note on its
result rows. Models without a featuriser report no coverage.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.knowledge.featurize import PerturbationFeatures
from vcbench.models.base import PerturbationModel

UNCOVERED_NOTE = "no representation of its targets: the model knows nothing about it"


def uncovered_perturbations(
    model: PerturbationModel, perturbations: Sequence[str]
) -> tuple[float, list[str]] | None:
    """``(share covered, uncovered labels)`` of the distinct ``perturbations``, or None when the
    model has no featuriser."""
    labels = sorted(set(map(str, perturbations)))
    features = getattr(model, "features_", None)
    own = getattr(model, "represents_target", None)
    if not labels or (own is None and not isinstance(features, PerturbationFeatures)):
        return None
    if own is not None:
        covered = np.array([all(map(own, c.split_combination(p))) for p in labels])
    else:
        covered = features.coverage([c.split_combination(p) for p in labels])
    return float(np.mean(covered)), [p for p, ok in zip(labels, covered, strict=True) if not ok]


def note_uncovered(scores: pd.DataFrame, uncovered: Sequence[str]) -> None:
    """Append ``UNCOVERED_NOTE`` to the notes of the rows of the uncovered perturbations."""
    if not uncovered or "note" not in scores.columns:
        return
    rows = scores["perturbation"].astype(str).isin(set(uncovered)).to_numpy()
    notes = scores.loc[rows, "note"].fillna("").astype(str)
    scores.loc[rows, "note"] = np.where(notes == "", UNCOVERED_NOTE, notes + "; " + UNCOVERED_NOTE)
