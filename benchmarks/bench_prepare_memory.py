"""Peak memory of preparing a file at sci-Plex 3's layout, backed and chunked vs read whole.

Builds a synthetic raw-count h5ad with scPerturb's sci-Plex 3 obs layout (188 compounds + vehicle
'control', 'cell_line' A549/K562/MCF7 with some cells missing it, 'dose_value' 10-10,000 nM, vehicle
dose 0, 'time') and its 110,983 features (human and mouse Ensembl IDs, symbols in
'gene_short_name'), then prepares it in a fresh process for each reading mode and prints the peak
resident memory (ru_maxrss) of each. Small by default; ``--cells`` for bigger files.

    nice python benchmarks/bench_prepare_memory.py [--cells 20000] [--genes-per-cell 800]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_HUMAN, N_MOUSE = 58_347, 52_636  # 110,983 features in all, as in the sci-Plex 3 file
DOSES = (10.0, 100.0, 1000.0, 10000.0)


def build(path: Path, n_cells: int, genes_per_cell: int, seed: int = 0) -> dict:
    """Write the synthetic file; returns its shape, stored values and size."""
    import anndata as ad
    import numpy as np
    import pandas as pd
    from scipy import sparse

    rng = np.random.default_rng(seed)
    compounds = np.array([f"compound_{i:03d}" for i in range(188)] + ["control"], dtype=object)
    label = rng.integers(0, len(compounds), n_cells)
    perturbation = compounds[label]
    dose = np.where(perturbation == "control", 0.0, rng.choice(DOSES, n_cells))
    lines = np.array(["A549", "K562", "MCF7"], dtype=object)[rng.integers(0, 3, n_cells)]
    lines[rng.random(n_cells) < 0.01] = np.nan  # cells without a cell line
    obs = pd.DataFrame(
        {
            "perturbation": pd.Categorical(perturbation),
            "cell_line": pd.Categorical(lines),
            "dose_value": dose,
            "dose_unit": "nM",
            "time": 24.0,
            "replicate": pd.Categorical(rng.choice(["rep1", "rep2"], n_cells)),
        },
        index=[f"cell{i}" for i in range(n_cells)],
    )
    human = [f"ENSG{i:011d}.1" for i in range(N_HUMAN)]
    mouse = [f"ENSMUSG{i:011d}.1" for i in range(N_MOUSE)]
    symbols = [f"MT-{i}" for i in range(13)] + [f"GENE{i}" for i in range(13, N_HUMAN)]
    var = pd.DataFrame(
        {"gene_short_name": symbols + [f"Mm{i}" for i in range(N_MOUSE)]}, index=human + mouse
    )
    # skewed gene usage (a few genes in most cells, a long tail), 2% of entries mouse (barnyard)
    per_cell = rng.poisson(genes_per_cell, n_cells).clip(120)
    indptr = np.concatenate([[0], np.cumsum(per_cell)]).astype(np.int64)
    nnz = int(indptr[-1])
    indices = (rng.random(nnz, dtype=np.float32) ** 3 * N_HUMAN).astype(np.int32)
    mouse_hits = rng.random(nnz, dtype=np.float32) < 0.02
    indices[mouse_hits] = N_HUMAN + rng.integers(0, N_MOUSE, int(mouse_hits.sum()))
    data = rng.integers(1, 4, nnz).astype(np.float32)
    matrix = sparse.csr_matrix((data, indices, indptr), shape=(n_cells, len(var)))
    del data, indices
    matrix.sum_duplicates()
    ad.AnnData(X=matrix, obs=obs, var=var).write_h5ad(path)
    return {
        "cells": n_cells,
        "features": len(var),
        "stored_values": int(matrix.nnz),
        "file_mb": round(path.stat().st_size / 1e6, 1),
    }


def peak_rss_mib() -> float:
    """This process's peak resident memory: VmHWM (reset at exec, unlike ru_maxrss, which a child
    inherits from the process that forked it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare_once(path: str, mode: str) -> dict:
    """Prepare in this process (``backed``: vcbench's chunked reading; ``whole``: X read first)."""
    from vcbench.data.loader import read_h5ad
    from vcbench.datasets import counts_of, prepare, prepare_adata

    start = time.perf_counter()
    if mode == "backed":
        prepared = prepare("srivatsan2020_sciplex3", path)
    else:
        prepared = prepare_adata(read_h5ad(path), "srivatsan2020_sciplex3")
    seconds = time.perf_counter() - start
    return {
        "mode": mode,
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "seconds": round(seconds, 1),
        "kept": counts_of(prepared),
        "kept_genes": int(prepared.n_vars),
        "kept_stored_values": int(prepared.X.nnz),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=20_000)
    parser.add_argument("--genes-per-cell", type=int, default=800)
    parser.add_argument("--worker", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    parser.add_argument("--build", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(prepare_once(*args.worker)))
        return
    if args.build:
        print(json.dumps(build(Path(args.build), args.cells, args.genes_per_cell)))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sciplex_layout.h5ad"
        options = ["--cells", str(args.cells), "--genes-per-cell", str(args.genes_per_cell)]
        built = subprocess.run(  # a separate process, so the workers start small
            [sys.executable, __file__, "--build", str(path), *options],
            check=True,
            capture_output=True,
            text=True,
        )
        print(f"input: {built.stdout.strip().splitlines()[-1]}")
        for mode in ("backed", "whole"):
            out = subprocess.run(
                [sys.executable, __file__, "--worker", str(path), mode],
                check=True,
                capture_output=True,
                text=True,
            )
            print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
