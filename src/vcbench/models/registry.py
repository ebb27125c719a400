"""Look up models by name or by import path (``package.module:ClassName``)."""

from __future__ import annotations

import importlib
from typing import Any

from vcbench.errors import ModelError
from vcbench.models.base import PerturbationModel
from vcbench.models.baselines import NoChange, PerturbedMean

MODELS: dict[str, type[PerturbationModel]] = {m.name: m for m in (NoChange, PerturbedMean)}


def get_model(name: str, **params: Any) -> PerturbationModel:
    """An instance of a registered model, or of a user's class given as ``module:Class``."""
    if ":" in name:
        module_name, _, class_name = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ModelError(
                f"Cannot import model {name!r}: {exc}. Check the import path 'module:Class'."
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, PerturbationModel)):
            raise ModelError(f"{name!r} is not a subclass of vcbench.models.PerturbationModel.")
    elif name in MODELS:
        cls = MODELS[name]
    else:
        raise ModelError(
            f"Unknown model {name!r}. Registered models: {sorted(MODELS)}; or give 'module:Class'."
        )
    return cls(**params)
