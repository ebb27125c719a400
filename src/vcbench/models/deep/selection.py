"""Counterfactual validation: which training conditions a deep model (or a simple torch model,
``vcbench.models.torch_simple``) holds out to select its epoch, and how a prediction of them is
scored.

Definitions:

- *Held-out unit*: what the scenario holds out of training, so what selection imitates. The runner
  records it in ``train.uns[contract.HELD_OUT_UNIT]`` (``runner.task.held_out_unit``:
  ``"context"`` for unseen-context scenarios, ``"combination"`` for the combination split, else
  ``"perturbation"``); without it the unit is ``"perturbation"``.
- *Validation conditions*: for the unit ``"perturbation"``, ``round(fraction · P)`` (at least 1) of
  the ``P`` perturbation labels of the training cells, drawn with ``seed``; every perturbed cell
  of them, in every context, is held out. For ``"context"``, the same share (at least 1) of the
  contexts that have perturbed training cells, all of their perturbed cells held out (their
  controls stay: a test context's controls are query inputs). With fewer than ``MIN_CONTEXTS``
  contexts the unit falls back to perturbations. For ``"combination"`` (the combination split,
  whose test conditions are mostly combinations), the same share of the training *combinations*,
  their single parts kept in training; never single perturbations, whose validation as unseen
  targets selects the early epochs that predict a mean effect (on the combination simulator of
  docs/models.md, pdcorr of the combinations of two training targets fell to 0.42-0.76 for cpa,
  biolord, sams_vae and state, where the validation loss selects epochs scoring 0.76-0.95; the
  additive baseline 0.94-0.95; measured 2026-12-07). When the draw leaves fewer than
  ``MIN_VALIDATION_CONDITIONS`` validation conditions nothing is held out and selection uses the
  validation loss: a score over a handful of conditions is noise (on the bundled demo's K562
  combination split, 3 of its 14 training perturbations, the selected epochs were 0-2 and pdcorr
  fell from 0.26 to 0.10 for sams_vae; measured 2026-12-03).
- *Selection score*: the mean over validation conditions of the Pearson correlation across genes
  of the predicted and the observed effect (pdcorr), each effect being the condition's mean minus
  the mean of its context's training controls. Conditions whose correlation is undefined (a
  constant effect) are left out of the mean; all undefined scores ``−inf``.
- *Selected epoch*: among the epochs whose score is within ``SCORE_TIE`` of the best, the one with
  the lowest validation loss (the loss breaks ties).
- *Selected form* (``predict_effect="auto"``): every epoch is scored in both prediction forms, the
  effect form ``x0 + f(x0, p) − f(x0, ∅)`` and the plain ``f(x0, p)``; the plain form is taken
  only when its best score beats the effect form's best by more than ``FORM_MARGIN`` (the effect
  form is the default: a decoder bias is no effect), then the epoch is selected in that form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.effects import group_means

UNITS = ("perturbation", "context", "combination")
MIN_VALIDATION_CONDITIONS = 8
MIN_CONTEXTS = 3
SCORE_TIE = 0.005
FORM_MARGIN = 0.02
FORMS = ("effect", "plain")
SELECTION_MAX_CELLS = 100  # control cells per validation condition predicted during selection


def check_parameters(
    model: str, selection: object, validation_perturbations: float, predict_effect: object = True
) -> None:
    """Raise a ``ModelError`` naming ``model`` for an invalid selection parameter."""
    if predict_effect not in (True, False, "auto"):
        raise ModelError(
            f"{model}: predict_effect must be True, False or 'auto', got {predict_effect!r}."
        )
    if selection not in ("effect", "loss"):
        raise ModelError(f"{model}: selection must be 'effect' or 'loss', got {selection!r}.")
    if not 0 < validation_perturbations < 1:
        raise ModelError(
            f"{model}: validation_perturbations must be in (0, 1), got {validation_perturbations}."
        )


def scored_forms(predict_effect: bool | str) -> tuple[str, ...]:
    """The prediction forms scored in every epoch: both for ``"auto"``, else the one asked for."""
    if predict_effect == "auto":
        return FORMS
    return ("effect",) if predict_effect else ("plain",)


@dataclass
class Selection:
    """What counterfactual validation held out and chose (``DeepModel.selection_``).

    Attributes:
        unit: ``"perturbation"`` or ``"context"``.
        held_out: the held-out perturbation labels or contexts (sorted).
        conditions: the validation conditions (condition columns of ``contract``).
        form_scores: each scored form's scores (``"effect"``, ``"plain"``) of each epoch.
        form: the selected prediction form.
        losses: the validation loss of each epoch trained.
        train_losses: the training loss of each epoch trained.
        epoch: the selected epoch (0-based); the final model is refitted on every training cell for
            ``epoch + 1`` epochs, or keeps that epoch's weights (``refit`` False).
        refit: whether the final model is the refit.
    """

    unit: str
    held_out: list[str]
    conditions: pd.DataFrame = field(repr=False)
    form_scores: dict[str, list[float]] = field(default_factory=dict)
    form: str = "effect"
    losses: list[float] = field(default_factory=list)
    train_losses: list[float] = field(default_factory=list)
    epoch: int = -1
    refit: bool = True

    @property
    def scores(self) -> list[float]:
        """The selection score of each epoch trained, in the selected form."""
        return self.form_scores.get(self.form, [])

    @property
    def score(self) -> float:
        """The selection score of the selected epoch."""
        return self.scores[self.epoch]

    def add(self, scores: dict[str, float], loss: float, train_loss: float) -> float:
        """Record one epoch (its score in each form scored); returns the best of them."""
        for form, score in scores.items():
            self.form_scores.setdefault(form, []).append(score)
        self.losses.append(loss)
        self.train_losses.append(train_loss)
        return max(scores.values())

    def near_best(self) -> set[int]:
        """The epochs within ``SCORE_TIE`` of the best score of some form (the candidates)."""
        return {
            e
            for values in self.form_scores.values()
            for e, v in enumerate(values)
            if v >= max(values) - SCORE_TIE
        }

    def select(self) -> int:
        """Set the selected form and return the selected epoch (see the module docstring)."""
        best = {form: max(values) for form, values in self.form_scores.items()}
        plain_wins = (
            "effect" not in best or best.get("plain", -np.inf) > best["effect"] + FORM_MARGIN
        )
        self.form = "plain" if plain_wins else "effect"
        scores = np.asarray(self.scores, dtype=float)
        near_best = scores >= scores.max() - SCORE_TIE
        losses = np.where(near_best, np.asarray(self.losses, dtype=float), np.inf)
        self.epoch = int(np.argmin(losses)) if np.isfinite(losses).any() else int(np.argmax(scores))
        return self.epoch

    def as_record(self) -> dict[str, object]:
        """The fields the runner stores with the task's record."""
        return {
            "selection_unit": self.unit,
            "selection_held_out": ",".join(self.held_out),
            "selection_epoch": self.epoch,
            "selection_pdcorr": self.score,
            "selection_form": self.form,
            "selection_refit": self.refit,
        }


def held_out_cells(
    obs: pd.DataFrame, unit: str, fraction: float, seed: int
) -> tuple[str, list[str], np.ndarray] | None:
    """``(unit, held-out labels, mask of held-out cells)``, or None when too few to hold out."""
    if unit not in UNITS:
        raise ValueError(f"unknown held-out unit {unit!r}; expected one of {UNITS}.")
    perturbed = ~obs[c.IS_CONTROL].to_numpy(dtype=bool)
    rng = np.random.default_rng(seed)
    if unit == "combination":
        combination = perturbed & (obs[c.N_TARGETS].to_numpy() >= 2)
        return _held_out_labels(obs, combination, unit, fraction, rng)
    if unit == "context":
        contexts = np.unique(obs.loc[perturbed, c.CONTEXT].astype(str))
        if contexts.size >= MIN_CONTEXTS:
            held = _draw(rng, contexts, fraction)
            mask = perturbed & obs[c.CONTEXT].astype(str).isin(held).to_numpy()
            if _n_conditions(obs, mask) >= MIN_VALIDATION_CONDITIONS:
                return unit, held, mask
    return _held_out_labels(obs, perturbed, "perturbation", fraction, rng)


def _held_out_labels(
    obs: pd.DataFrame, eligible: np.ndarray, unit: str, fraction: float, rng: np.random.Generator
) -> tuple[str, list[str], np.ndarray] | None:
    """``fraction`` of the perturbation labels of the ``eligible`` cells, every eligible cell of
    them held out; None when that leaves too few validation conditions."""
    labels = np.unique(obs.loc[eligible, c.PERTURBATION].astype(str))
    if labels.size < 2:
        return None
    held = _draw(rng, labels, fraction)
    mask = eligible & obs[c.PERTURBATION].astype(str).isin(held).to_numpy()
    if _n_conditions(obs, mask) < MIN_VALIDATION_CONDITIONS:
        return None
    return unit, held, mask


def _n_conditions(obs: pd.DataFrame, mask: np.ndarray) -> int:
    return len(obs.loc[mask, c.condition_columns(obs.columns)].drop_duplicates())


def _draw(rng: np.random.Generator, labels: np.ndarray, fraction: float) -> list[str]:
    """``round(fraction · n)`` of the ``n`` labels (at least 1, at most ``n − 1``), sorted."""
    n = min(max(1, round(fraction * labels.size)), labels.size - 1)
    return sorted(rng.choice(labels, n, replace=False).tolist())


@dataclass(frozen=True)
class ValidationEffects:
    """The observed effects of the validation conditions and the controls that predict them."""

    conditions: pd.DataFrame
    observed: np.ndarray
    control_means: dict[str, np.ndarray]

    @classmethod
    def from_cells(cls, held: ad.AnnData, kept: ad.AnnData) -> ValidationEffects:
        """Effects of the conditions of ``held`` against the controls of ``kept`` (training)."""
        keys = c.condition_columns(held.obs.columns)
        obs = held.obs[keys].astype(str)
        conditions = obs.drop_duplicates().sort_values(keys).reset_index(drop=True)
        label = c.joined_labels(obs)
        names, means = group_means(held, label)
        order = np.searchsorted(names, c.joined_labels(conditions))
        is_control = kept.obs[c.IS_CONTROL].to_numpy(dtype=bool)
        contexts, control = group_means(
            kept[is_control], kept.obs.loc[is_control, c.CONTEXT].astype(str).to_numpy()
        )
        control_means = dict(zip(contexts.tolist(), control, strict=True))
        observed = means[order] - np.vstack([control_means[k] for k in conditions[c.CONTEXT]])
        return cls(conditions, observed, control_means)

    def score(self, prediction: ad.AnnData) -> float:
        """The selection score (mean pdcorr, module docstring) of a prediction of the conditions."""
        keys = list(self.conditions.columns)
        label = c.joined_labels(prediction.obs[keys])
        names, means = group_means(prediction, label)
        wanted = c.joined_labels(self.conditions)
        predicted = means[np.searchsorted(names, wanted)]
        predicted -= np.vstack([self.control_means[k] for k in self.conditions[c.CONTEXT]])
        with np.errstate(invalid="ignore", divide="ignore"):
            a = predicted - predicted.mean(axis=1, keepdims=True)
            b = self.observed - self.observed.mean(axis=1, keepdims=True)
            r = (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
        r = r[np.isfinite(r)]
        return float(r.mean()) if r.size else -np.inf
