"""Models: the contract, baselines, the linear model and the registry.

The torch models (``linear_additive``, ``latent_additive``, ``decoder_only``) live in
``vcbench.models.torch_simple`` and are imported only when asked for (extra ``vcbench[torch]``).
"""

from vcbench.models.base import PerturbationModel, Queries, predict_by_shift
from vcbench.models.baselines import (
    Additive,
    NoChange,
    PerturbationMean,
    PerturbedMean,
    RandomPerturbation,
)
from vcbench.models.genepert import GenePert
from vcbench.models.linear import Linear
from vcbench.models.registry import LAZY_MODELS, MODELS, get_model, get_model_class, model_names

__all__ = [
    "LAZY_MODELS",
    "MODELS",
    "Additive",
    "GenePert",
    "Linear",
    "NoChange",
    "PerturbationMean",
    "PerturbationModel",
    "PerturbedMean",
    "Queries",
    "RandomPerturbation",
    "get_model",
    "get_model_class",
    "model_names",
    "predict_by_shift",
]
