"""Run one model on one split and score it: the unit of work of every benchmark."""

from __future__ import annotations

import time
from collections.abc import Callable

import anndata as ad
import numpy as np
import pandas as pd

from vcbench.data import contract as c
from vcbench.errors import ModelError, NotApplicableError
from vcbench.metrics import evaluate
from vcbench.metrics.collapse import effect_collapse
from vcbench.metrics.truth_cache import TruthCache
from vcbench.models.base import (
    PerturbationModel,
    controls_of_test_contexts,
    queries_for,
)
from vcbench.runner.coverage import note_uncovered, uncovered_perturbations
from vcbench.runner.halves import half_a_mask
from vcbench.runner.negatives import NegativePolicy, handle_negatives
from vcbench.scenarios.registry import unseen_in_test
from vcbench.scenarios.split import Split


def truth_for(adata: ad.AnnData, split: Split, held_out_seed: int | None = None) -> ad.AnnData:
    """The real test cells plus the real control cells of the test contexts; with
    ``held_out_seed``, only half B of each test condition's cells (``runner.halves``)."""
    test = split.mask(adata, "test") & ~adata.obs[c.IS_CONTROL].to_numpy()
    if held_out_seed is not None:
        test &= ~half_a_mask(adata, split, held_out_seed)
    controls = adata.obs_names.isin(controls_of_test_contexts(adata, split).obs_names)
    return adata[test | controls].copy()


SCORE_KEYS = {c.CONTEXT: "context", c.PERTURBATION: "perturbation", c.DOSE: "dose"}


def with_split_category(scores: pd.DataFrame, split: Split) -> pd.DataFrame:
    """``scores`` with each condition's ``split_category`` (after its condition columns) and a
    ``dose`` column where the split's conditions have doses."""
    keys = [
        k for k in c.condition_columns(split.test_conditions.columns) if SCORE_KEYS[k] in scores
    ]
    conditions = split.test_conditions[[*keys, "split_category"]].astype(str)
    category = conditions.drop_duplicates(keys).set_index(keys)["split_category"]
    index = pd.MultiIndex.from_frame(scores[[SCORE_KEYS[k] for k in keys]].astype(str))
    scores.insert(len(keys), "split_category", category.reindex(index).to_numpy())
    return scores


def check_applicable(model: PerturbationModel, split: Split) -> None:
    """Raise ``NotApplicableError`` with the model's reason when it has no way to represent what
    the split's test conditions hold out (``PerturbationModel.not_applicable``)."""
    unseen = unseen_in_test(split.scenario, split.variant)
    reason = type(model).not_applicable(unseen, model.get_params())
    if reason:
        scenario = split.scenario + (f"/{split.variant}" if split.variant else "")
        raise NotApplicableError(
            f"{model.name} is not applicable to {scenario} (unseen {unseen}s): {reason}."
        )


def held_out_unit(split: Split) -> str:
    """What the split holds out of training, so what a model's own validation imitates
    (``models.deep.selection``): ``"context"`` for unseen-context scenarios, ``"combination"``
    for the combination split (its test conditions are mostly combinations), else ``"perturbation"``."""
    if split.scenario == "context":
        return "context"
    return "combination" if split.variant == "combo" else "perturbation"


def run_model(
    adata: ad.AnnData,
    split: Split,
    model: PerturbationModel,
    metrics: str | list[str],
    held_out_seed: int | None = None,
) -> pd.DataFrame:
    """Fit ``model`` on the split's training cells, predict its queries, and score the prediction.

    The model sees only training cells and the queries' control cells, never a test perturbed cell.
    With ``held_out_seed`` the truth is half B of each test condition (``truth_for``).
    Returns tidy rows (context, perturbation, split_category, metric, value).
    """
    return run_model_timed(adata, split, model, metrics, held_out_seed=held_out_seed)[0]


def run_model_timed(
    adata: ad.AnnData,
    split: Split,
    model: PerturbationModel,
    metrics: str | list[str],
    truth_cache: TruthCache | None = None,
    keep: Callable[[ad.AnnData, ad.AnnData], object] | None = None,
    held_out_seed: int | None = None,
    negatives: NegativePolicy = "clip",
) -> tuple[pd.DataFrame, dict[str, float]]:
    """``run_model`` that also returns the fit, predict and evaluation wall times in seconds.

    ``truth_cache`` keeps the split's truth-side statistics for its next model (same scores);
    ``keep(prediction, truth)`` is called before scoring (the runner keeps predictions);
    ``held_out_seed``: score against half B (``truth_for``); negative predicted values are counted
    (``negative_values``) and handled by ``negatives`` (``runner.negatives``); the collapse
    diagnostic (``metrics.collapse``) is returned as ``effect_diversity`` and ``effect_correlation``.
    A model that is not applicable to the split's scenario raises ``NotApplicableError`` before
    anything is fitted.
    """
    check_applicable(model, split)
    train = adata[split.mask(adata, "train")].copy()
    # what the scenario holds out, for the models' own validation (models.deep.selection)
    train.uns[c.HELD_OUT_UNIT] = held_out_unit(split)
    queries = queries_for(adata, split)
    timings: dict[str, float] = {}
    try:
        start = time.perf_counter()
        model.fit(train)
        timings["fit_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        prediction = model.predict(queries)
        timings["predict_seconds"] = time.perf_counter() - start
        if isinstance(prediction, ad.AnnData):
            prediction, timings["negative_values"] = handle_negatives(
                prediction, model.name, negatives
            )
    except Exception as exc:
        raise ModelError(f"Model {model.name!r} failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(prediction, ad.AnnData):
        raise ModelError(
            f"Model {model.name!r}: predict() returned {type(prediction).__name__}, not an AnnData. "
            "predict must return the predicted cells (or means) as an AnnData (docs/models.md)."
        )
    truth = truth_for(adata, split, held_out_seed)
    if keep is not None:
        keep(prediction, truth)
    start = time.perf_counter()
    scores = evaluate(
        prediction,
        truth,
        metrics=metrics,
        conditions=split.test_conditions,
        reference=train,
        truth_cache=truth_cache,
    )
    timings["evaluate_seconds"] = time.perf_counter() - start
    timings.update(effect_collapse(prediction, truth, split.test_conditions).as_record())
    selection = getattr(model, "selection_", None)
    if selection is not None:  # counterfactual validation: what was held out and chosen
        timings.update(selection.as_record())
    coverage = uncovered_perturbations(model, split.test_conditions[c.PERTURBATION])
    if coverage is not None:  # the share of test perturbations the model can represent
        timings["representation_coverage"] = coverage[0]
        note_uncovered(scores, coverage[1])
    scores = with_split_category(scores, split)
    if scores["split_category"].isna().any():  # pragma: no cover - evaluate checks the conditions
        raise ModelError("Scored conditions that are not test conditions.")
    scores["value"] = scores["value"].astype(np.float64)
    return scores, timings
