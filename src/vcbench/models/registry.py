"""Look up models by name or by import path (``package.module:ClassName``).

``MODELS`` holds the core (numpy) models; ``LAZY_MODELS`` names models that need an optional
dependency by their import path, imported only when asked for. ``model_names()`` lists both.
"""

from __future__ import annotations

import importlib
from typing import Any

from vcbench.errors import ModelError
from vcbench.models.base import PerturbationModel
from vcbench.models.baselines import (
    Additive,
    NoChange,
    PerturbationMean,
    PerturbedMean,
    RandomPerturbation,
)
from vcbench.models.external import PredictionsFile
from vcbench.models.genepert import GenePert
from vcbench.models.linear import Linear

MODELS: dict[str, type[PerturbationModel]] = {
    m.name: m
    for m in (
        NoChange,
        PerturbedMean,
        PerturbationMean,
        Additive,
        Linear,
        RandomPerturbation,
        GenePert,
    )
}

# models the runner builds itself (not listed by model_names): a spec's `predictions` entry
INTERNAL_MODELS: dict[str, type[PerturbationModel]] = {PredictionsFile.name: PredictionsFile}

# name -> (import path, the extra that provides its dependency)
LAZY_MODELS: dict[str, tuple[str, str]] = {
    "linear_additive": ("vcbench.models.torch_simple:LinearAdditive", "torch"),
    "latent_additive": ("vcbench.models.torch_simple:LatentAdditive", "torch"),
    "decoder_only": ("vcbench.models.torch_simple:DecoderOnly", "torch"),
    "cpa": ("vcbench.models.deep.cpa:CPA", "torch"),
    "biolord": ("vcbench.models.deep.biolord:BioLORD", "torch"),
    "sams_vae": ("vcbench.models.deep.sams_vae:SAMSVAE", "torch"),
    "sclambda": ("vcbench.models.deep.sclambda:ScLAMBDA", "torch"),
    "prnet": ("vcbench.models.deep.prnet:PRnet", "torch"),
    "gears": ("vcbench.models.deep.gears:GEARS", "torch"),
    "state": ("vcbench.models.deep.state:STATE", "torch"),
    # adapters to the authors' packages, each behind its own extra
    "gears_official": ("vcbench.models.adapters.gears_official:GEARSOfficial", "gears"),
    "biolord_official": ("vcbench.models.adapters.biolord_official:BiolordOfficial", "biolord"),
    "state_official": ("vcbench.models.adapters.state_official:STATEOfficial", "state"),
    "scgen": ("vcbench.models.adapters.scgen_pertpy:ScGenPertpy", "scgen"),
}


def model_names() -> list[str]:
    """Every registered model name (core and optional), sorted."""
    return sorted({*MODELS, *LAZY_MODELS})


def _import_class(path: str) -> type:
    module_name, _, class_name = path.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def get_model_class(name: str) -> type[PerturbationModel]:
    """The class of a registered model, or of a user's class given as ``module:Class``."""
    if name in MODELS or name in INTERNAL_MODELS:
        return MODELS.get(name) or INTERNAL_MODELS[name]
    if name in LAZY_MODELS:
        path, extra = LAZY_MODELS[name]
        try:
            return _import_class(path)
        except ModuleNotFoundError as exc:
            raise ModelError(
                f"Model {name!r} needs the optional dependency {exc.name!r}: "
                f'pip install "vcbench[{extra}]".'
            ) from exc
    if ":" in name:
        try:
            cls = _import_class(name)
        except (ImportError, AttributeError) as exc:
            raise ModelError(
                f"Cannot import model {name!r}: {exc}. Check the import path 'module:Class'."
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, PerturbationModel)):
            raise ModelError(f"{name!r} is not a subclass of vcbench.models.PerturbationModel.")
        return cls
    raise ModelError(
        f"Unknown model {name!r}. Registered models: {model_names()}; or give 'module:Class'."
    )


def get_model(name: str, **params: Any) -> PerturbationModel:
    """An instance of a registered model, or of a user's class given as ``module:Class``."""
    return get_model_class(name)(**params)
