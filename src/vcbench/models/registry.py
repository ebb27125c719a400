"""Look up models by name or by import path (``package.module:ClassName``).

``MODELS`` holds the core (numpy) models; ``LAZY_MODELS`` names models that need an optional
dependency by their import path, imported only when asked for. ``model_names()`` lists both.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
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
from vcbench.models.cell_inputs import (
    CELL_EMBEDDING_MODELS,
    CELL_EMBEDDING_PARAM,
    accepts_cell_embedding,
    cell_embedding_error,
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


# extra -> the modules it installs that the models need (checked without importing them)
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "gears": ("torch", "gears", "torch_geometric"),
    "biolord": ("torch", "biolord", "scvi"),
    "state": ("torch", "state"),
    "scgen": ("torch", "pertpy", "scvi"),
}

# name -> (family, one-line description); families: baseline, linear, torch (vcbench's own
# reimplementation of a published model) and adapter (the authors' package behind the contract)
MODEL_INFO: dict[str, tuple[str, str]] = {
    "no_change": ("baseline", "Each condition's cells are its context's control cells, unchanged."),
    "perturbed_mean": ("baseline", "The mean of all perturbed training cells of the context."),
    "perturbation_mean": (
        "baseline",
        "A seen perturbation's mean effect over its training contexts, added to the controls.",
    ),
    "additive": (
        "baseline",
        "Sum of the single-target effects seen in training (Ahlmann-Eltze et al. 2025).",
    ),
    "random_perturbation": ("baseline", "The effect of a training perturbation drawn at random."),
    "linear": ("linear", "Ahlmann-Eltze et al.'s linear model on gene embeddings."),
    "genepert": ("linear", "GenePert: ridge regression from perturbation embeddings to effects."),
    "linear_additive": ("torch", "PerturBench's linear additive model."),
    "latent_additive": ("torch", "PerturBench's latent additive model (encoder, decoder)."),
    "decoder_only": ("torch", "PerturBench's decoder-only model (no control input)."),
    "cpa": ("torch", "Compositional Perturbation Autoencoder (Lotfollahi et al. 2023)."),
    "biolord": ("torch", "biolord: disentangled known and unknown latents (Piran et al. 2024)."),
    "sams_vae": (
        "torch",
        "SAMS-VAE: sparse additive mechanism shifts (Bereket & Karaletsos 2023).",
    ),
    "sclambda": (
        "torch",
        "scLAMBDA: basal plus embedding-derived salient state (Wang et al. 2024).",
    ),
    "prnet": ("torch", "PRnet: perturbation-conditioned generative model (Qi et al. 2024)."),
    "gears": ("torch", "GEARS: GNN over gene and GO graphs (Roohani et al. 2024)."),
    "state": ("torch", "STATE's State Transition transformer over cell sets (Adduri et al. 2025)."),
    "gears_official": ("adapter", "The authors' GEARS package (cell-gears)."),
    "biolord_official": ("adapter", "The authors' biolord package."),
    "state_official": ("adapter", "The authors' STATE package (arc-state)."),
    "scgen": ("adapter", "scGen through pertpy (Lotfollahi et al. 2019)."),
}


def extra_installed(extra: str | None) -> bool:
    """Whether the modules of an optional extra can be imported (found, not imported)."""
    if extra is None:
        return True
    return all(importlib.util.find_spec(module) is not None for module in EXTRA_MODULES[extra])


@dataclass(frozen=True)
class ModelListing:
    """One row of ``vcbench models``."""

    name: str
    family: str
    description: str
    extra: str | None
    installed: bool
    cell_embedding: bool = False  # takes cell_embedding_key (vcbench.models.cell_inputs)


def list_models() -> list[ModelListing]:
    """Every registered model: family, one-line description, extra needed and whether installed."""
    rows = []
    for name in model_names():
        family, description = MODEL_INFO.get(name, ("", ""))
        extra = LAZY_MODELS[name][1] if name in LAZY_MODELS else None
        rows.append(
            ModelListing(
                name,
                family,
                description,
                extra,
                extra_installed(extra),
                name in CELL_EMBEDDING_MODELS,
            )
        )
    return rows


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
    cls = get_model_class(name)
    if CELL_EMBEDDING_PARAM in params and not accepts_cell_embedding(cls):
        raise ModelError(cell_embedding_error(name))
    return cls(**params)


def params_problems(cls: type, params: dict[str, Any]) -> list[str]:
    """Every parameter in ``params`` that the class's constructor does not take (with a
    did-you-mean), and every required constructor parameter that ``params`` lacks."""
    import inspect

    from vcbench.suggest import did_you_mean

    parameters = {
        name: p
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL,)
    }
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        accepted = None
    else:
        accepted = [name for name, p in parameters.items() if p.kind is not p.VAR_KEYWORD]
    problems = []
    if accepted is not None:
        for key in params:
            if key not in accepted:
                problems.append(
                    f"params: {key!r} is not a parameter of {cls.__name__}"
                    f"{did_you_mean(key, accepted)}; it takes {accepted}"
                )
    for name, p in parameters.items():
        required = p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        if required and name not in params:
            problems.append(f"params: {cls.__name__} needs the parameter {name!r}")
    return problems


def model_problems(name: str, params: dict[str, Any]) -> list[str]:
    """What is wrong with a model name and its params, without fitting anything: an unknown name
    (with a did-you-mean), a missing extra, an import path that is not a model, bad params.

    A registered model whose extra is missing is reported as such (its params are then not
    checked); an import path's module is imported (it is the user's code the task would run).
    """
    from vcbench.suggest import did_you_mean

    if name in LAZY_MODELS and not extra_installed(LAZY_MODELS[name][1]):
        extra = LAZY_MODELS[name][1]
        return [
            f'model {name!r} needs the optional extra {extra!r}: pip install "vcbench[{extra}]"'
        ]
    if name not in MODELS and name not in LAZY_MODELS and ":" not in name:
        return [
            f"unknown model {name!r}{did_you_mean(name, model_names())}; see `vcbench models`, "
            "or give an import path 'module:Class'"
        ]
    try:
        cls = get_model_class(name)
    except ModelError as exc:
        return [str(exc).rstrip(".")]
    if CELL_EMBEDDING_PARAM in params and not accepts_cell_embedding(cls):
        return [f"params: {cell_embedding_error(name).rstrip('.')}"]
    return params_problems(cls, params)


def not_applicable_reason(
    name: str, params: dict[str, Any], scenario: str, variant: str | None = None
) -> str | None:
    """Why model ``name`` with ``params`` cannot be scored on ``scenario``/``variant``
    (``PerturbationModel.not_applicable`` of its class), or None; None also for a model that cannot
    be imported (``model_problems`` reports that)."""
    from vcbench.scenarios.registry import unseen_in_test

    try:
        cls = get_model_class(name)
    except ModelError:
        return None
    return cls.not_applicable(unseen_in_test(scenario, variant), params)


def takes_cell_embedding(name: str) -> bool:
    """Whether a model (a registered name, without importing it, or an import path) takes
    ``cell_embedding_key``."""
    if name in MODELS or name in LAZY_MODELS or name in INTERNAL_MODELS:
        return name in CELL_EMBEDDING_MODELS
    try:
        return accepts_cell_embedding(get_model_class(name))
    except ModelError:
        return False
