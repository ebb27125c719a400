"""Simulated perturbation data with a known ground truth, for tests and sanity checks.

``simulate`` draws raw counts from a low-rank log-linear negative-binomial model, passes them
through ``load_dataset`` (so the result is in the standard form of ``vcbench.data.contract``) and
returns the true expected counts and true log effects beside the data.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Literal

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from vcbench.data.contract import COMBINATION_DELIMITER, CONTROL
from vcbench.data.loader import load_dataset

__all__ = ["Simulation", "simulate"]

PERTURBATION_KEY = "perturbation"
CONTEXT_KEY = "cell_type"
DATASET_NAME = "simulated"
MAX_MEAN = 1e6  # the largest true mean (counts per cell) allowed


@dataclass(frozen=True)
class Simulation:
    """A simulated dataset and its ground truth.

    Attributes:
        adata: the standardised AnnData (output of ``load_dataset``); raw counts in
            ``layers["counts"]``, the true size factor of each cell in ``obs["size_factor"]``.
        true_mean: expected counts per cell at size factor 1 (the NB mean), rows a MultiIndex
            ``(context, perturbation)`` including the controls, columns the genes.
        true_log_effect: natural-log-mean effect against the same context's controls, same
            rows as ``true_mean`` without the controls.
        systematic_direction: the direction ``s`` of the systematic shift (one value per gene).
        params: every parameter used plus the drawn labels (JSON-serialisable).
        target_programmes: with ``targets="go"``, the true programme membership of each single's
            target (targets × programmes, 0/1; columns the programmes' GO IDs): the oracle
            feature; None otherwise.
    """

    adata: ad.AnnData
    true_mean: pd.DataFrame
    true_log_effect: pd.DataFrame
    systematic_direction: pd.Series
    params: dict[str, Any]
    target_programmes: pd.DataFrame | None = None


def simulate(
    *,
    n_contexts: int = 3,
    n_genes: int = 200,
    n_singles: int = 20,
    n_combinations: int = 10,
    cells_per_condition: int = 100,
    n_control_cells: int = 200,
    effect_rank: int = 4,
    effect_scale: float = 1.0,
    target_effect: float = -2.0,
    context_modulation: float = 0.3,
    systematic_shift: float = 0.0,
    interaction_scale: float = 0.0,
    dispersion: float = 10.0,
    mean_library_size: float = 5000.0,
    library_size_sd: float = 0.2,
    baseline_sd: float = 1.0,
    context_offset_sd: float = 0.2,
    seed: int = 0,
    targets: Literal["measured", "go"] = "measured",
) -> Simulation:
    """Simulate raw counts of single and double perturbations in several contexts.

    The model, in natural-log mean space, with ``g`` genes, rank ``r = effect_rank`` and contexts
    ``k``:

    - Baseline: relative abundances ``a_g ~ LogNormal(0, baseline_sd)`` normalised to sum to 1;
      ``b_k = log(mean_library_size * a) + o_k`` with a context offset ``o_k ~ N(0,
      context_offset_sd^2)`` per gene. Control cells of context ``k`` have log mean ``b_k``.
    - Shared pieces: loadings ``W`` (g x r) with entries ``N(0, 1/r)``; a systematic direction
      ``s`` (g) with entries ``N(0, 1)``, shared by every perturbation and context; per context
      ``M_k = I + context_modulation * R_k`` with ``R_k`` entries ``N(0, 1/r)``
      (``context_modulation = 0`` gives the same effects in every context).
    - Single perturbation ``p`` targets a distinct measured gene ``t_p`` (its label is that gene's
      name) and has latent ``z_p ~ N(0, effect_scale^2 I_r)``, so each gene's specific effect has
      standard deviation about ``effect_scale``. Specific effect in context ``k``:
      ``spec_k(p) = W @ (M_k @ z_p) + target_effect * e_{t_p}`` (a knock-down when
      ``target_effect < 0``). Log effect: ``eff_k(p) = systematic_shift * s + spec_k(p)``.
    - Combination ``A+B`` (two distinct singles, parts sorted, no repeated pair) with latent
      ``z_AB ~ N(0, effect_scale^2 I_r)``: ``eff_k(A+B) = systematic_shift * s + spec_k(A) +
      spec_k(B) + interaction_scale * W @ (M_k @ z_AB)``. The systematic shift is counted once and
      both target genes get ``target_effect``; with ``interaction_scale = 0`` a combination is
      exactly additive in log-mean space: ``eff(A+B) = eff(A) + eff(B) - systematic_shift * s``.
    - True mean (expected counts at size factor 1): ``mu_k(p) = exp(b_k + eff_k(p))``.
    - Each cell: size factor ``f ~ LogNormal(-sigma^2/2, sigma)`` with ``sigma =
      library_size_sd`` (so ``E[f] = 1``), counts ``~ NB(mean = f * mu, theta = dispersion)``
      drawn as a gamma-Poisson mixture (variance ``m + m^2 / theta``).

    ``n_control_cells`` and ``cells_per_condition`` are per context; ``dispersion`` is the NB
    inverse overdispersion ``theta`` (larger is closer to Poisson). All randomness comes from
    ``np.random.default_rng(seed)``. Every latent is drawn whatever the effect knobs are, so two
    calls with the same seed and sizes share labels, baseline, ``W``, ``s``, ``R_k`` and ``z``, and
    their truths differ only through the knobs that changed (the sampled counts differ anyway).
    The raw AnnData (float32 CSR counts; obs ``perturbation``, ``cell_type`` and the true
    ``size_factor``) goes through ``load_dataset(..., dataset_name="simulated")``. A true mean
    above ``MAX_MEAN`` raises ``ValueError``.

    ``targets="go"`` (a known answer for unseen perturbations): the targets are real human genes
    and their effects follow their real GO annotations (``vcbench.knowledge``). The ``r`` latent
    directions become *programmes*: ``r`` GO biological-process terms drawn at random among those
    with ``GO_PROGRAMME_SIZE`` protein-coding members (annotations propagated to ancestors). The
    singles target ``n_singles`` distinct protein-coding genes drawn from the programmes' members
    (their labels are the gene symbols; the targets are not among the measured genes, whose
    names stay ``G…``, so ``target_effect`` does not apply), and a single's latent is its
    membership vector ``m_p`` (0/1, which programmes its gene belongs to), scaled to the same
    expected norm as the Gaussian latent: ``z_p = effect_scale · sqrt(r / |m_p|) · m_p``. Genes
    that share programmes have similar effects; ``target_programmes`` holds ``m``. The programmes
    and targets come from a second generator seeded with ``(seed, 1)``, so the other draws are
    those of ``targets="measured"``.
    """
    params = _validated_params(locals())
    rng = np.random.default_rng(seed)
    r = effect_rank

    width = max(4, len(str(n_genes - 1)))
    genes = [f"G{i:0{width}d}" for i in range(n_genes)]
    contexts = [f"ctx{k}" for k in range(n_contexts)]

    # Labels: singles target distinct genes; combinations are distinct pairs of singles.
    target_idx = np.sort(rng.choice(n_genes, size=n_singles, replace=False))
    singles = [genes[i] for i in target_idx]
    pairs = _pairs_from_indices(
        np.sort(rng.choice(n_singles * (n_singles - 1) // 2, size=n_combinations, replace=False)),
        n_singles,
    )
    combos = [COMBINATION_DELIMITER.join(sorted((singles[a], singles[b]))) for a, b in pairs]

    # Latents, drawn in a fixed order whatever the knob values are.
    abundance = rng.lognormal(0.0, baseline_sd, size=n_genes)
    offsets = rng.normal(0.0, context_offset_sd, size=(n_contexts, n_genes))
    w = rng.normal(0.0, 1.0 / math.sqrt(r), size=(n_genes, r))
    s = rng.normal(0.0, 1.0, size=n_genes)
    rot = rng.normal(0.0, 1.0 / math.sqrt(r), size=(n_contexts, r, r))
    z_single = rng.normal(0.0, effect_scale, size=(n_singles, r))
    z_pair = rng.normal(0.0, effect_scale, size=(n_combinations, r))
    programmes = None
    if targets == "go":
        singles, programmes = _go_programme_targets(n_singles, r, np.random.default_rng([seed, 1]))
        sizes = programmes.to_numpy().sum(axis=1, keepdims=True)
        z_single = effect_scale * np.sqrt(r / sizes) * programmes.to_numpy()
        combos = [COMBINATION_DELIMITER.join(sorted((singles[a], singles[b]))) for a, b in pairs]

    log_base = np.log(mean_library_size * abundance / abundance.sum())[None, :] + offsets
    target_onehot = np.zeros((n_singles, n_genes))
    if targets == "measured":
        target_onehot[np.arange(n_singles), target_idx] = target_effect
    shift = systematic_shift * s
    pa = np.array([a for a, _ in pairs], dtype=int)
    pb = np.array([b for _, b in pairs], dtype=int)

    labels = [CONTROL, *singles, *combos]
    n_cond = len(labels)
    log_effect = np.empty((n_contexts, n_cond, n_genes))
    for k in range(n_contexts):
        m_k = np.eye(r) + context_modulation * rot[k]
        spec = (z_single @ m_k.T) @ w.T + target_onehot  # (singles, genes)
        inter = (z_pair @ m_k.T) @ w.T  # (combinations, genes)
        log_effect[k, 0] = 0.0
        log_effect[k, 1 : 1 + n_singles] = shift + spec
        log_effect[k, 1 + n_singles :] = shift + spec[pa] + spec[pb] + interaction_scale * inter
    log_mean = log_base[:, None, :] + log_effect
    if not np.all(np.isfinite(log_mean)) or log_mean.max() > math.log(MAX_MEAN):
        raise ValueError(
            f"simulated means overflow (a gene above {MAX_MEAN:.0e} counts per cell; float32 "
            "counts would lose precision): lower effect_scale, systematic_shift, "
            "interaction_scale, target_effect, baseline_sd or mean_library_size"
        )
    mean = np.exp(log_mean)  # (contexts, conditions, genes)

    # Cells: per context, the controls then each condition; one row of `mean` per block.
    block_sizes = np.tile([n_control_cells] + [cells_per_condition] * (n_cond - 1), n_contexts)
    block = np.repeat(np.arange(n_contexts * n_cond), block_sizes)
    n_cells = block.size
    sigma = library_size_sd
    size_factor = rng.lognormal(-(sigma**2) / 2.0, sigma, size=n_cells)
    cell_mean = size_factor[:, None] * mean.reshape(n_contexts * n_cond, n_genes)[block]
    rate = rng.gamma(dispersion, cell_mean / dispersion)
    counts = rng.poisson(rate)

    obs = pd.DataFrame(
        {
            PERTURBATION_KEY: pd.Categorical(
                np.array(labels, dtype=object)[block % n_cond], categories=labels
            ),
            CONTEXT_KEY: pd.Categorical(
                np.array(contexts, dtype=object)[block // n_cond], categories=contexts
            ),
            "size_factor": size_factor,
        },
        index=pd.Index([f"cell{i:06d}" for i in range(n_cells)]),
    )
    raw = ad.AnnData(X=_to_csr(counts), obs=obs, var=pd.DataFrame(index=pd.Index(genes)))
    adata = load_dataset(
        raw,
        perturbation_key=PERTURBATION_KEY,
        context_key=CONTEXT_KEY,
        control=CONTROL,
        dataset_name=DATASET_NAME,
    )

    rows = pd.MultiIndex.from_product([contexts, labels], names=["context", "perturbation"])
    columns = pd.Index(genes, name="gene")
    true_mean = pd.DataFrame(mean.reshape(-1, n_genes), index=rows, columns=columns)
    true_log_effect = pd.DataFrame(log_effect.reshape(-1, n_genes), index=rows, columns=columns)
    true_log_effect = true_log_effect.drop(index=CONTROL, level="perturbation")

    params.update(contexts=contexts, singles=singles, combinations=combos, targets=targets)
    if programmes is not None:
        params["programmes"] = programmes.columns.tolist()
    return Simulation(
        adata=adata,
        true_mean=true_mean,
        true_log_effect=true_log_effect,
        systematic_direction=pd.Series(s, index=columns, name="systematic_direction"),
        params=params,
        target_programmes=programmes,
    )


def go_screen(*, n_singles: int = 80, seed: int = 0) -> Simulation:
    """The GO-structured known-answer screen of vcbench's tests and benchmarks: one context,
    200 genes, ``n_singles`` single perturbations of real human genes whose effects follow their GO
    programmes (``targets="go"``), 30 cells per condition, 200 control cells, effect rank 4,
    systematic shift 0.5."""
    return simulate(
        n_contexts=1,
        n_genes=200,
        n_singles=n_singles,
        n_combinations=0,
        cells_per_condition=30,
        n_control_cells=200,
        effect_rank=4,
        systematic_shift=0.5,
        targets="go",
        seed=seed,
    )


def combination_screen(*, seed: int = 0) -> Simulation:
    """The known-answer screen of combinations of vcbench's tests and benchmarks: one context,
    200 genes, 40 singles and 60 combinations whose log effect is the sum of their parts' specific
    effects plus the shared shift (no interaction), 30 cells per condition, 200 control cells,
    effect rank 4, systematic shift 0.5."""
    return simulate(
        n_contexts=1,
        n_genes=200,
        n_singles=40,
        n_combinations=60,
        cells_per_condition=30,
        n_control_cells=200,
        effect_rank=4,
        systematic_shift=0.5,
        seed=seed,
    )


GO_PROGRAMME_SIZE = (30, 300)  # protein-coding members of a GO term that can be a programme


def _go_programme_targets(
    n_singles: int, n_programmes: int, rng: np.random.Generator
) -> tuple[list[str], pd.DataFrame]:
    """``n_programmes`` random GO BP terms of ``GO_PROGRAMME_SIZE`` protein-coding members and
    ``n_singles`` distinct members of them (sorted symbols), with their membership (0/1)."""
    from vcbench.knowledge.annotations import gene_term_matrix, genes

    symbols, terms, member = gene_term_matrix(("BP",), True)
    coding = set(genes().loc[genes()["gene_type"] == "protein-coding", "symbol"])
    rows = np.flatnonzero(symbols.isin(coding))
    member = member[rows].tocsc()
    sizes = np.diff(member.indptr)
    low, high = GO_PROGRAMME_SIZE
    candidates = np.flatnonzero((sizes >= low) & (sizes <= high))
    chosen = np.sort(rng.choice(candidates, size=n_programmes, replace=False))
    block = member[:, chosen].toarray()
    pool = np.flatnonzero(block.any(axis=1))
    if pool.size < n_singles:
        raise ValueError(
            f"the {n_programmes} GO programmes have {pool.size} member genes, fewer than "
            f"n_singles={n_singles}: lower n_singles or raise effect_rank"
        )
    picked = pool[rng.choice(pool.size, size=n_singles, replace=False)]
    names = symbols[rows][picked]
    order = np.argsort(names)
    membership = pd.DataFrame(
        block[picked][order].astype(np.float64),
        index=pd.Index(names[order], name="target"),
        columns=pd.Index(terms[chosen], name="programme"),
    )
    return membership.index.tolist(), membership


def _pairs_from_indices(indices: np.ndarray, n: int) -> list[tuple[int, int]]:
    """The pairs ``(a, b)``, ``a < b < n``, at ``indices`` in lexicographic order of all pairs."""
    a_values = np.arange(n)
    first_index = a_values * (2 * n - a_values - 1) // 2  # index of the pair (a, a + 1)
    a = np.searchsorted(first_index, indices, side="right") - 1
    b = indices - first_index[a] + a + 1
    return [(int(i), int(j)) for i, j in zip(a, b, strict=True)]


def _to_csr(dense: np.ndarray) -> sp.csr_matrix:
    """A float32 CSR copy of a dense 2-d array (one pass, faster than ``csr_matrix(dense)``)."""
    flat = np.flatnonzero(dense)
    n_rows, n_cols = dense.shape
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(flat // n_cols, minlength=n_rows), out=indptr[1:])
    data = dense.ravel()[flat].astype(np.float32)
    return sp.csr_matrix((data, (flat % n_cols).astype(np.int32), indptr), shape=dense.shape)


# Each parameter of ``simulate``, in signature order, with its kind: an integer minimum, or one of
# "real", "nonnegative", "positive".
_PARAM_SPEC: dict[str, int | str] = {
    "n_contexts": 1,
    "n_genes": 1,
    "n_singles": 1,
    "n_combinations": 0,
    "cells_per_condition": 1,
    "n_control_cells": 1,
    "effect_rank": 1,
    "effect_scale": "nonnegative",
    "target_effect": "real",
    "context_modulation": "nonnegative",
    "systematic_shift": "real",
    "interaction_scale": "nonnegative",
    "dispersion": "positive",
    "mean_library_size": "positive",
    "library_size_sd": "nonnegative",
    "baseline_sd": "nonnegative",
    "context_offset_sd": "nonnegative",
    "seed": 0,
}
TARGET_SOURCES = ("measured", "go")


def _validated_params(values: dict[str, Any]) -> dict[str, Any]:
    """Check the arguments of ``simulate`` and return them as plain Python numbers."""
    params: dict[str, Any] = {}
    if values["targets"] not in TARGET_SOURCES:
        raise ValueError(f"targets must be one of {TARGET_SOURCES}, got {values['targets']!r}")
    for name, kind in _PARAM_SPEC.items():
        value = values[name]
        if isinstance(kind, int):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if value < kind:
                raise ValueError(f"{name} must be at least {kind}, got {value}")
            params[name] = int(value)
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a real number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
        if kind == "nonnegative" and value < 0:
            raise ValueError(f"{name} must be non-negative, got {value}")
        if kind == "positive" and value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
        params[name] = float(value)
    if params["n_singles"] > params["n_genes"]:
        raise ValueError(
            f"n_singles ({params['n_singles']}) cannot exceed n_genes ({params['n_genes']}): "
            "each single perturbation targets a distinct gene"
        )
    n_pairs = params["n_singles"] * (params["n_singles"] - 1) // 2
    if params["n_combinations"] > n_pairs:
        raise ValueError(
            f"n_combinations ({params['n_combinations']}) exceeds the {n_pairs} distinct pairs "
            f"of {params['n_singles']} single perturbations"
        )
    return params
