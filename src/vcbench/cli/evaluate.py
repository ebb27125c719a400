"""``vcbench evaluate``: score any prediction file against a truth file."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from vcbench import defaults
from vcbench.cli import options as shared
from vcbench.cli.app import app, console, friendly_errors


class PdsNormalisation(StrEnum):
    """The values of ``--pds-normalisation`` (``vcbench.evaluate(pds_normalisation=...)``)."""

    p_minus_1 = "p_minus_1"
    p = "p"


class GramPrecision(StrEnum):
    """The values of ``--gram`` (``vcbench.evaluate(gram=...)``)."""

    float32 = "float32"
    float64 = "float64"


DEFAULT_GRAM = GramPrecision(defaults.GRAM)


@app.command()
@friendly_errors
def evaluate(
    prediction: Annotated[Path, typer.Argument(help="Predicted cells (or means), .h5ad.")],
    truth: Annotated[Path, typer.Argument(help="Real test cells + real controls, .h5ad.")],
    perturbation_key: shared.PerturbationKey = defaults.PERTURBATION_KEY,
    context_key: shared.ContextKey = defaults.CONTEXT_KEY,
    control: shared.Control = None,
    metrics: shared.Metrics = defaults.METRICS,
    profile: Annotated[
        str | None, typer.Option("--profile", hidden=True, help="Old name of --metrics.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory for scores.* and summary.*")] = Path(
        "evaluation"
    ),
    reference: Annotated[
        Path | None, typer.Option(help="Training cells .h5ad (for pdcorr_systema).")
    ] = None,
    max_cells: Annotated[
        int, typer.Option(help="Distribution metrics subsample to at most this many cells.")
    ] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the subsampling and the bootstrap.")] = 0,
    backed: Annotated[
        bool, typer.Option(help="Open the prediction in backed mode (files larger than memory).")
    ] = False,
    executor: Annotated[
        str, typer.Option(help="serial (this process) or dask (conditions on a Dask cluster).")
    ] = "serial",
    scheduler: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address tcp://HOST:PORT (default: a local cluster)."),
    ] = None,
    pds_normalisation: Annotated[
        PdsNormalisation,
        typer.Option(
            help="pds over the P − 1 other conditions (vcbench's) or over P (cell-eval's "
            "discrimination_score_l1)."
        ),
    ] = PdsNormalisation.p_minus_1,
    gram: Annotated[
        GramPrecision,
        typer.Option(
            help="Precision of the products behind the expression-space distances: float32 "
            "(centred; within 1e-7 of the terms' scale, docs/performance.md) or float64."
        ),
    ] = DEFAULT_GRAM,
) -> None:
    """Score PREDICTION against TRUTH: per-condition scores and a per-metric summary.

    Both files use the same obs columns (--perturbation-key, --context-key; '--context-key none'
    for data of one context) and control labels.
    """
    from vcbench.allocator import keep_freed_memory
    from vcbench.threads import one_blas_thread_process

    one_blas_thread_process()  # both before numpy and the condition pool start threads
    keep_freed_memory()
    from vcbench.metrics.files import evaluate_files

    result = evaluate_files(
        prediction,
        truth,
        perturbation_key=perturbation_key,
        context_key=shared.context(context_key),
        control=shared.controls(control),
        metrics=shared.metrics(profile if profile is not None else metrics),
        out=out,
        reference_path=reference,
        backed=backed,
        max_cells=max_cells,
        seed=seed,
        executor=executor,
        scheduler=scheduler,
        pds_normalisation=pds_normalisation.value,
        gram=gram.value,
    )
    shown = result.summary[["context", "metric", "mean", "ci_low", "ci_high", "n", "n_nan"]]
    console.print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    console.print(f"Wrote {', '.join(str(p) for p in result.paths)}")
