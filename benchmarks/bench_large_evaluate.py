"""`vcbench evaluate` on a truth and a prediction of 1,000,000 cells × 1,000 genes: peak memory.

Issue #19's bounded-memory target: peak memory grows with the largest condition plus P × G means,
not with the number of cells, so the evaluation of 1M cells × 1k genes stays within 4 GB.

The script writes a synthetic truth and prediction (log-normalised, sparse CSR, float32; obs
``target_gene``, control ``non-targeting``; ``--cells`` perturbed cells over ``--perturbations``
perturbations plus ``--controls`` controls) to ``--dir`` (default a folder under /tmp, removed at
the end unless ``--keep``). The files are written block by block (``--block`` cells at a time,
appended to the file's CSR arrays), so the generation holds one block, never the matrix. Then it
runs ``vcbench evaluate PREDICTION TRUTH --backed`` in a child process and prints its wall time,
CPU time (user + system) and peak RSS (``ru_maxrss`` of the child), with the load average.

    python benchmarks/bench_large_evaluate.py                              # 1M × 1k × 200, full
    python benchmarks/bench_large_evaluate.py --cells 20000 --perturbations 20 --metrics fast
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
from scipy import sparse

LIMIT_GIB = 4.0


def _labels(n_cells: int, n_perturbations: int, n_controls: int) -> np.ndarray:
    """Condition codes: 0 for the controls, then 1 … P in equal runs (cells sorted by condition)."""
    per = n_cells // n_perturbations
    return np.concatenate(
        [np.zeros(n_controls, int), 1 + np.repeat(np.arange(n_perturbations), per)]
    )


def _block(
    rng: np.random.Generator, codes: np.ndarray, rates: np.ndarray, noise: float
) -> sparse.csr_matrix:
    """Log-normalised Poisson counts of the cells with ``codes`` (float32 CSR)."""
    scale = rates[codes]
    if noise:
        scale = scale * np.exp(rng.normal(0.0, noise, scale.shape).astype(np.float32))
    counts = rng.poisson(scale).astype(np.float32)
    totals = counts.sum(axis=1, keepdims=True).clip(min=1)
    return sparse.csr_matrix(np.log1p(counts / totals * 1e4).astype(np.float32))


def write_file(
    path: Path,
    codes: np.ndarray,
    names: list[str],
    rates: np.ndarray,
    noise: float,
    seed: int,
    block: int,
) -> None:
    """Write an .h5ad of the cells ``codes`` block by block (X appended, never held whole)."""
    rng = np.random.default_rng(seed)
    n_genes = rates.shape[1]
    labels = pd.Categorical.from_codes(codes, categories=names)
    obs = pd.DataFrame(
        {"target_gene": labels}, index=pd.Index([f"c{i}" for i in range(len(codes))])
    )
    var = pd.DataFrame(index=[f"G{i}" for i in range(n_genes)])
    with h5py.File(path, "w") as store:
        store.attrs["encoding-type"] = "anndata"
        store.attrs["encoding-version"] = "0.1.0"
        ad.io.write_elem(store, "obs", obs)
        ad.io.write_elem(store, "var", var)
        ad.io.write_elem(store, "uns", {})
        first = _block(rng, codes[:block], rates, noise)
        ad.io.write_elem(store, "X", first)  # resizable: anndata writes maxshape=(None,)
        matrix = ad.io.sparse_dataset(store["X"])
        for start in range(block, len(codes), block):
            matrix.append(_block(rng, codes[start : start + block], rates, noise))


def make_pair(args: argparse.Namespace, directory: Path) -> tuple[Path, Path]:
    """truth.h5ad and prediction.h5ad in ``directory`` (perturbation ``Gi`` knocks down gene Gi)."""
    rng = np.random.default_rng(args.seed)
    base = rng.gamma(0.6, args.mean_count, args.genes)
    effects = np.exp(
        rng.normal(0.0, 0.4, (args.perturbations, args.genes))
        * (rng.random((args.perturbations, args.genes)) < 0.1)
    )
    effects[np.arange(args.perturbations), np.arange(args.perturbations) % args.genes] = 0.2
    rates = (np.vstack([np.ones(args.genes), effects]) * base).astype(np.float32)
    names = ["non-targeting", *(f"G{i}" for i in range(args.perturbations))]
    codes = _labels(args.cells, args.perturbations, args.controls)
    truth, prediction = directory / "truth.h5ad", directory / "prediction.h5ad"
    write_file(truth, codes, names, rates, 0.0, args.seed + 1, args.block)
    write_file(prediction, codes, names, rates, 0.2, args.seed + 2, args.block)
    return truth, prediction


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1_000_000, help="perturbed cells")
    parser.add_argument("--genes", type=int, default=1_000)
    parser.add_argument("--perturbations", type=int, default=200)
    parser.add_argument("--controls", type=int, default=20_000)
    parser.add_argument(
        "--mean-count", type=float, default=0.3, help="scale of the genes' mean counts"
    )
    parser.add_argument("--metrics", default="full")
    parser.add_argument("--block", type=int, default=20_000, help="cells written at a time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dir", type=Path, default=None, help="folder of the files (reused if there)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the files")
    parser.add_argument("--threads", default="2")
    args = parser.parse_args()

    directory = args.dir or Path(tempfile.mkdtemp(prefix="vcbench_large_"))
    directory.mkdir(parents=True, exist_ok=True)
    truth, prediction = directory / "truth.h5ad", directory / "prediction.h5ad"
    start, cpu = time.perf_counter(), time.process_time()
    if not (truth.exists() and prediction.exists()):
        truth, prediction = make_pair(args, directory)
    size = sum(p.stat().st_size for p in (truth, prediction)) / 2**30
    print(
        f"data: {args.cells} perturbed + {args.controls} control cells × {args.genes} genes × "
        f"{args.perturbations} perturbations, two files of {size:.2f} GiB together; generation "
        f"{time.perf_counter() - start:.0f} s wall, {time.process_time() - cpu:.0f} s CPU, peak "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )
    vcbench = shutil.which("vcbench") or str(Path(sys.executable).with_name("vcbench"))
    command = [
        vcbench, "evaluate", str(prediction), str(truth), "--backed",
        "--perturbation-key", "target_gene", "--control", "non-targeting", "--context-key", "none",
        "--metrics", args.metrics, "--out", str(directory / "evaluation"),
    ]  # fmt: skip
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[name] = args.threads
    load = _load()
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"vcbench evaluate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = usage.ru_maxrss / 2**20
    print(
        f"vcbench evaluate --metrics {args.metrics} --backed: {wall:.0f} s wall, "
        f"{usage.ru_utime + usage.ru_stime:.0f} s CPU, peak {peak:.2f} GiB "
        f"(limit {LIMIT_GIB:g} GiB: {'within' if peak <= LIMIT_GIB else 'OVER'}); "
        f"load before {load}, after {_load()}"
    )
    if not args.keep and args.dir is None:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
