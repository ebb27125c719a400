"""``vcbench split``: build (or reuse) a split file and print its summary."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from vcbench import defaults
from vcbench.cli import options as shared
from vcbench.cli.app import app, console, friendly_errors
from vcbench.errors import ScenarioError


def _fmt(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3f}"


def split_tables(adata: Any, split: Any) -> list[Table]:
    """Rich tables: cells and conditions per set and category with the shift; nearest contexts."""
    from vcbench.scenarios import describe

    summary = describe(adata, split)
    main = Table(title=f"Split {split.name} (seed {split.seed}, data {split.fingerprint[:12]})")
    for name in ("set", "split category", "cells", "control cells", "conditions"):
        main.add_column(name, justify="left" if name in ("set", "split category") else "right")
    main.add_column("energy distance to train perturbed", justify="right")
    for row in summary.itertuples(index=False):
        main.add_row(
            row.set,
            row.split_category,
            str(row.cells),
            str(row.control_cells),
            str(row.conditions),
            _fmt(row.energy_distance),
        )
    tables = [main]
    shift = split.shift
    if shift is not None and (shift["measure"] == "nearest_context").any():
        value = split.info.get("shift")
        near = Table(
            title="Test contexts: nearest training context (controls, energy distance)"
            + (f"; the split's shift (their mean) {_fmt(value)}" if value is not None else "")
        )
        for name in ("test context", "nearest training context", "energy distance"):
            near.add_column(name, justify="right" if name == "energy distance" else "left")
        for row in shift[shift["measure"] == "nearest_context"].itertuples(index=False):
            near.add_row(row.test, row.reference, _fmt(row.energy_distance))
        tables.append(near)
    return tables


def gene_lines(split: Any) -> list[str]:
    """Lines on the selected genes and the datasets' HVG overlap (cross-dataset splits)."""
    overlap = split.info.get("hvg_overlap")
    if overlap is None:
        return []
    hvg = split.params.get("hvg")
    chosen = "all genes" if split.genes is None else f"{len(split.genes)} genes"
    jaccard = overlap["jaccard"]
    lines = [
        f"Genes: {chosen} (hvg={hvg}, selected on training cells only).",
        f"HVG sets per dataset (training cells): {overlap['n_hvgs']}; shared {overlap['n_shared']}, "
        f"union {overlap['n_union']}, Jaccard {'n/a' if jaccard is None else f'{jaccard:.3f}'}"
        + (
            f"; no training cells: {overlap['no_training_cells']}."
            if overlap["no_training_cells"]
            else "."
        ),
    ]
    if split.params.get("count_scaling"):
        lines.append(f"Count scaling: {split.params['count_scaling']}.")
    return lines


def _load(
    paths: list[Path],
    perturbation_key: str,
    context_key: str | None,
    control: list[str],
    dataset_key: str | None,
    dose_key: str | None,
    obs_query: str | None,
    filters: list[dict[str, Any]],
) -> Any:
    from vcbench.data import load_dataset, read_h5ad
    from vcbench.data.obs_query import apply_obs_query, describe_filter
    from vcbench.scenarios import combine_datasets

    loaded = []
    for path in paths:
        raw = read_h5ad(path)
        if obs_query:
            raw, record = apply_obs_query(raw, obs_query, str(path))
            console.print(describe_filter(record), highlight=False)
            filters.append(record)
        loaded.append(
            load_dataset(
                raw,
                perturbation_key=perturbation_key,
                context_key=context_key,
                control=control,
                dataset_key=dataset_key,
                dose_key=dose_key,
                dataset_name=path.stem,
            )
        )
    return loaded[0] if len(loaded) == 1 else combine_datasets(loaded)


@app.command()
@friendly_errors
def split(
    data: Annotated[list[Path], typer.Argument(help="One .h5ad file (several: cross_dataset).")],
    scenario: Annotated[str, typer.Option(help="context, perturbation or cross_dataset.")],
    out: Annotated[Path, typer.Option(help="The split file to write (Parquet).")],
    variant: Annotated[str | None, typer.Option(help="The scenario's variant.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    perturbation_key: shared.PerturbationKey = defaults.PERTURBATION_KEY,
    context_key: shared.ContextKey = defaults.CONTEXT_KEY,
    control: shared.Control = None,
    dataset_key: Annotated[str | None, typer.Option(help="obs column of datasets.")] = None,
    dose_key: Annotated[str | None, typer.Option(help="obs column of doses.")] = None,
    obs_query: Annotated[
        str | None, typer.Option(help="Keep cells matching this pandas query on obs.")
    ] = None,
    test_fraction: Annotated[float | None, typer.Option(help="Fraction held out.")] = None,
    val_fraction: Annotated[float | None, typer.Option(help="Fraction for validation.")] = None,
    fold: Annotated[int | None, typer.Option(help="Fold (leave_one_out, single).")] = None,
    n_folds: Annotated[int | None, typer.Option(help="Number of folds (single).")] = None,
    n_shots: Annotated[int | None, typer.Option(help="Perturbations moved (few_shot).")] = None,
    embedding: Annotated[str | None, typer.Option(help="obsm key (context strict).")] = None,
    contexts: Annotated[
        str | None, typer.Option(help="Comma-separated contexts taking part (context).")
    ] = None,
    test_controls: Annotated[
        str | None, typer.Option(help="'test' or 'train': test contexts' controls.")
    ] = None,
    context: Annotated[str | None, typer.Option(help="Context (combo).")] = None,
    unseen_fraction: Annotated[float | None, typer.Option(help="Unseen genes (combo).")] = None,
    seen2_train_fraction: Annotated[
        float | None, typer.Option(help="combo_unseen0 kept in training (combo).")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target dataset (cross_dataset).")] = None,
    hvg: Annotated[
        str | None, typer.Option(help="merge_before, merge_after or none (cross_dataset).")
    ] = None,
    n_top_genes: Annotated[int | None, typer.Option(help="HVGs (cross_dataset).")] = None,
    count_scaling: Annotated[
        str | None, typer.Option(help="downsample or scale (cross_dataset).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even if --out holds this split.")] = False,
) -> None:
    """Build a split, check it for leakage, write it to --out and print its summary.

    When --out already holds the split of the same data, scenario, options and seed, it is
    reused (--force rebuilds it).
    """
    from vcbench.scenarios import make_split

    options = {
        "test_fraction": test_fraction,
        "val_fraction": val_fraction,
        "fold": fold,
        "n_folds": n_folds,
        "n_shots": n_shots,
        "embedding": embedding,
        "contexts": contexts.split(",") if contexts else None,
        "test_controls": test_controls,
        "context": context,
        "unseen_fraction": unseen_fraction,
        "seen2_train_fraction": seen2_train_fraction,
        "target": target,
        "hvg": hvg,
        "n_top_genes": n_top_genes,
        "count_scaling": count_scaling,
    }
    options = {k: v for k, v in options.items() if v is not None}
    filters: list[dict[str, Any]] = []
    adata = _load(
        data,
        perturbation_key,
        shared.context(context_key),
        shared.controls(control),
        dataset_key,
        dose_key,
        obs_query,
        filters,
    )
    built = None if force else _reusable(out, adata, scenario, variant, seed, options)
    reused = built is not None
    if built is None:
        built = make_split(adata, scenario, variant, seed=seed, **options)
        if filters:  # the split file records the row filter with its counts
            built.info["row_filters"] = filters
        built.save(out)
    for table in split_tables(adata, built):
        console.print(table)
    for line in gene_lines(built):
        console.print(line, highlight=False)
    verb = "Reused (checked; --force rebuilds)" if reused else "Wrote"
    console.print(f"{verb} {out}: {int(built.mask(adata, 'test').sum())} test cells.")


def _reusable(
    out: Path, adata: Any, scenario: str, variant: str | None, seed: int, options: dict[str, Any]
) -> Any:
    """The split in ``out`` when it is this data's split of this scenario, variant, seed and given
    options (checked for leakage on load); else None."""
    import inspect
    import json

    from vcbench.scenarios import SCENARIOS, load_split
    from vcbench.scenarios.io import _plain

    if not out.exists() or scenario not in SCENARIOS:
        return None
    try:
        saved = load_split(out)
    except ScenarioError:
        return None
    variant = variant or next(iter(SCENARIOS[scenario]))
    if variant not in SCENARIOS[scenario]:
        return None
    parameters = inspect.signature(SCENARIOS[scenario][variant]).parameters
    defaults = {k: p.default for k, p in parameters.items() if p.default is not p.empty}
    wanted = json.loads(json.dumps(_plain(defaults | options)))
    same = (
        (saved.scenario, saved.variant, saved.seed) == (scenario, variant, seed)
        and set(options) <= set(saved.params)
        and all(
            saved.params[k] == wanted[k]
            for k in saved.params
            if k in wanted and wanted[k] is not None
        )
    )
    if not same:
        return None
    try:
        return load_split(out, adata)
    except ScenarioError:
        return None
