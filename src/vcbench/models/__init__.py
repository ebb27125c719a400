"""Models: the contract, baselines and the registry."""

from vcbench.models.base import PerturbationModel, Queries, predict_by_shift
from vcbench.models.baselines import NoChange, PerturbedMean
from vcbench.models.registry import MODELS, get_model

__all__ = [
    "MODELS",
    "NoChange",
    "PerturbationModel",
    "PerturbedMean",
    "Queries",
    "get_model",
    "predict_by_shift",
]
