"""Wall time and peak memory of `vcbench evaluate --profile full` against `cell-eval run --profile full`.

Builds a synthetic prediction/truth pair (log-normalised, sparse CSR, float32): ``--cells`` perturbed
cells spread over ``--perturbations`` perturbations (perturbation ``Gi`` targets gene ``Gi``) plus
``--controls`` control cells, ``--genes`` genes, one context. The prediction's control cells are the
real controls (so both tools use the same reference). Each tool runs in its own process with 2
threads; the script prints both wall times, both peak memories (max RSS of the tool's processes) and
their ratios. Targets (issue: metric engine): vcbench ≥ 3× faster and ≤ 0.5× the peak memory.

    python benchmarks/bench_metrics.py [--cells 100000 --genes 2000 --perturbations 200]
    python benchmarks/bench_metrics.py --skip-cell-eval   # vcbench only
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

THREADS = "2"
# Runs a command as a child and prints the peak RSS (MiB) of its process tree's largest member.
_MEASURE = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
    "print('PEAK_MIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
)


def _log_normalised(counts: np.ndarray) -> sparse.csr_matrix:
    totals = counts.sum(axis=1, keepdims=True).clip(min=1)
    values = np.log1p(counts / totals * 1e4).astype(np.float32)
    return sparse.csr_matrix(values)


def make_pair(
    directory: Path, n_cells: int, n_genes: int, n_perturbations: int, n_controls: int, seed: int
) -> tuple[Path, Path]:
    """Write truth.h5ad and prediction.h5ad (obs ``target_gene``, control ``non-targeting``)."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(n_genes)]
    base = rng.gamma(0.6, 1.0, n_genes)  # mean counts per gene: many low, some high
    effects = np.exp(
        rng.normal(0.0, 0.4, (n_perturbations, n_genes))
        * (rng.random((n_perturbations, n_genes)) < 0.1)
    )
    effects[np.arange(n_perturbations), np.arange(n_perturbations) % n_genes] = 0.2  # knockdown
    labels = np.repeat([f"G{i}" for i in range(n_perturbations)], n_cells // n_perturbations)
    labels = np.concatenate([np.full(n_controls, "non-targeting"), labels])

    def draw(noise: float) -> sparse.csr_matrix:
        blocks = []
        rates = np.vstack([np.ones(n_genes), effects])
        codes = np.concatenate(
            [
                np.zeros(n_controls, int),
                1 + np.repeat(np.arange(n_perturbations), n_cells // n_perturbations),
            ]
        )
        for start in range(0, len(codes), 10_000):
            part = codes[start : start + 10_000]
            scale = rates[part] * base * np.exp(rng.normal(0, noise, (len(part), n_genes)))
            blocks.append(_log_normalised(rng.poisson(scale).astype(np.float32)))
        return sparse.vstack(blocks).tocsr()

    obs = pd.DataFrame(
        {"target_gene": pd.Categorical(labels)}, index=[f"cell{i}" for i in range(len(labels))]
    )
    var = pd.DataFrame(index=genes)
    truth = ad.AnnData(X=draw(0.0), obs=obs, var=var)
    prediction_x = draw(0.2)
    prediction_x = sparse.vstack([truth.X[:n_controls], prediction_x[n_controls:]]).tocsr()
    prediction = ad.AnnData(X=prediction_x, obs=obs.copy(), var=var.copy())
    paths = directory / "truth.h5ad", directory / "prediction.h5ad"
    truth.write_h5ad(paths[0])
    prediction.write_h5ad(paths[1])
    return paths


def _timed(command: list[str]) -> tuple[float, float]:
    env = dict(os.environ)
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMBA_NUM_THREADS",
        "POLARS_MAX_THREADS",
    ):
        env[name] = THREADS
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    peak = float(done.stdout.strip().splitlines()[-1].split()[-1])
    return wall, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000, help="perturbed cells")
    parser.add_argument("--genes", type=int, default=2_000)
    parser.add_argument("--perturbations", type=int, default=200)
    parser.add_argument("--controls", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-cell-eval", action="store_true")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the files in this directory (and reuse them if they exist there)",
    )
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp()) if args.keep is None else args.keep
    directory.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    truth, prediction = directory / "truth.h5ad", directory / "prediction.h5ad"
    if not (args.keep is not None and truth.exists() and prediction.exists()):
        truth, prediction = make_pair(
            directory, args.cells, args.genes, args.perturbations, args.controls, args.seed
        )
    print(
        f"data: {args.cells} perturbed + {args.controls} control cells × {args.genes} genes × "
        f"{args.perturbations} perturbations, one context (ready in {time.perf_counter() - start:.0f} s)"
    )
    vcbench = shutil.which("vcbench") or str(Path(sys.executable).with_name("vcbench"))
    common = [
        "--perturbation-key",
        "target_gene",
        "--control",
        "non-targeting",
        "--profile",
        "full",
    ]
    v_wall, v_peak = _timed(
        [
            vcbench,
            "evaluate",
            str(prediction),
            str(truth),
            *common,
            "--out",
            str(directory / "vcbench"),
        ]
    )
    print(f"vcbench evaluate --profile full: {v_wall:.1f} s, peak {v_peak:.0f} MiB")
    if not args.skip_cell_eval:
        cell_eval = shutil.which("cell-eval") or str(Path(sys.executable).with_name("cell-eval"))
        c_wall, c_peak = _timed(
            [
                cell_eval,
                "run",
                "-ap",
                str(prediction),
                "-ar",
                str(truth),
                "--control-pert",
                "non-targeting",
                "--pert-col",
                "target_gene",
                "--num-threads",
                THREADS,
                "--profile",
                "full",
                "-o",
                str(directory / "cell-eval"),
            ]
        )
        print(f"cell-eval run --profile full:    {c_wall:.1f} s, peak {c_peak:.0f} MiB")
        print(f"speed-up (cell-eval / vcbench wall time): {c_wall / v_wall:.2f}× (target ≥ 3)")
        print(f"memory ratio (vcbench / cell-eval peak): {v_peak / c_peak:.2f} (target ≤ 0.5)")
    if args.keep is None:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
