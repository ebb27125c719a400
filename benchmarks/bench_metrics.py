"""`vcbench evaluate --profile full` against `cell-eval run --profile full`: wall, CPU, peak memory.

Builds a synthetic prediction/truth pair (log-normalised, sparse CSR, float32): ``--cells`` perturbed
cells spread over ``--perturbations`` perturbations (perturbation ``Gi`` targets gene ``Gi``) plus
``--controls`` control cells, ``--genes`` genes, one context. The prediction's control cells are the
real controls (so both tools use the same reference). vcbench reads both files backed
(``--no-backed``: the prediction in memory). Each tool runs in its own process with 2
threads, alternately (A B A B, ``--repeats``), and the best run of each is kept; the script prints
wall time, CPU time (user + system of the tool's process tree) and peak memory (max RSS of the
tool's largest process), their ratios, and the load average beside each run.
Targets (issue #19): ≥ 5× less wall and CPU time than cell-eval, ≤ 0.35× its peak memory.

Also, with ``--scaling``: the exponent ``b`` of ``time ∝ P^b`` of each metric family (in-process
``evaluate`` at a fixed number of cells per condition, P doubling up to ``--scaling-max``); with
``--demo``: the wall time of the demo ``vcbench run`` per executor (``bench_demo_run.py``); with
``--imports``: the RSS after each import stage of the evaluate process (what sets its floor).

    python benchmarks/bench_metrics.py                       # 29k × 1k genes × 60 perturbations
    python benchmarks/bench_metrics.py --large               # 100k × 2k genes × 200 perturbations
    python benchmarks/bench_metrics.py --skip-cell-eval      # vcbench only
    python benchmarks/bench_metrics.py --no-compare --scaling [--scaling-max 10000] --demo
    python benchmarks/bench_metrics.py --no-compare --imports
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
    "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print('PEAK_MIB', r.ru_maxrss / 1024, r.ru_utime + r.ru_stime)"
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


def _timed(command: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, process tree) and peak MiB of ``command``."""
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
    _, peak, cpu = done.stdout.strip().splitlines()[-1].split()
    return wall, float(cpu), float(peak)


def _load() -> str:
    return (
        " ".join(Path("/proc/loadavg").read_text().split()[:3])
        if Path("/proc/loadavg").exists()
        else "?"
    )


def _commands(
    directory: Path, truth: Path, prediction: Path, backed: bool = True
) -> dict[str, list[str]]:
    vcbench = shutil.which("vcbench") or str(Path(sys.executable).with_name("vcbench"))
    cell_eval = shutil.which("cell-eval") or str(Path(sys.executable).with_name("cell-eval"))
    return {
        "vcbench": [
            vcbench,
            "evaluate",
            str(prediction),
            str(truth),
            "--perturbation-key",
            "target_gene",
            "--control",
            "non-targeting",
            "--context-key",
            "none",  # one context
            "--profile",
            "full",
            "--out",
            str(directory / "vcbench"),
            *(["--backed"] if backed else []),
        ],
        "cell-eval": [
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
        ],
    }


def compare(args: argparse.Namespace) -> None:
    """Best-of-``repeats`` wall, CPU and peak memory of both tools, run alternately."""
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
    commands = _commands(directory, truth, prediction, args.backed)
    print(
        "vcbench reads the truth backed (always) and the prediction "
        + ("backed (--backed)" if args.backed else "into memory (no --backed)")
    )
    tools = ["vcbench"] if args.skip_cell_eval else ["vcbench", "cell-eval"]
    best: dict[str, tuple[float, float, float]] = {}
    for repeat in range(args.repeats):
        for tool in tools:
            load = _load()
            wall, cpu, peak = _timed(commands[tool])
            print(
                f"  run {repeat + 1} {tool:9s}: {wall:6.1f} s wall, {cpu:6.1f} s CPU, "
                f"peak {peak:5.0f} MiB (load before: {load})"
            )
            old = best.get(tool)
            best[tool] = (
                (wall, cpu, peak)
                if old is None
                else (min(old[0], wall), min(old[1], cpu), min(old[2], peak))
            )
    for tool, (wall, cpu, peak) in best.items():
        print(f"best {tool:9s}: {wall:6.1f} s wall, {cpu:6.1f} s CPU, peak {peak:5.0f} MiB")
    if "cell-eval" in best:
        (v_wall, v_cpu, v_peak), (c_wall, c_cpu, c_peak) = best["vcbench"], best["cell-eval"]
        print(f"wall speed-up (cell-eval / vcbench): {c_wall / v_wall:.2f}× (target ≥ 5)")
        print(f"CPU speed-up (cell-eval / vcbench):  {c_cpu / v_cpu:.2f}× (target ≥ 5)")
        print(f"peak memory ratio (vcbench / cell-eval): {v_peak / c_peak:.2f} (target ≤ 0.35)")
    if args.keep is None:
        shutil.rmtree(directory)


def _scaling_pair(n_conditions: int, cells: int, genes: int, seed: int):
    """A prediction/truth pair in the standard form with ``cells`` cells per condition."""
    from vcbench.data import contract as c

    rng = np.random.default_rng(seed)
    labels = [c.CONTROL] * (4 * cells) + [
        f"P{i}" for i in range(n_conditions) for _ in range(cells)
    ]
    shifts = rng.normal(0, 0.5, (n_conditions + 1, genes))
    codes = np.array([0] * (4 * cells) + [1 + i for i in range(n_conditions) for _ in range(cells)])

    def draw(noise: float) -> ad.AnnData:
        x = np.abs(
            rng.normal(1.0, 0.3, (len(labels), genes)) + shifts[codes] * (codes > 0)[:, None]
        )
        x += rng.normal(0, noise, x.shape) * (codes > 0)[:, None]
        obs = pd.DataFrame({c.CONTEXT: "k", c.PERTURBATION: labels})
        obs[c.IS_CONTROL] = obs[c.PERTURBATION] == c.CONTROL
        obs.index = [f"c{i}" for i in range(len(obs))]
        var = pd.DataFrame(index=[f"G{i}" for i in range(genes)])
        return ad.AnnData(np.clip(x, 0, None).astype(np.float32), obs, var)

    truth = draw(0.0)
    prediction = draw(0.3)
    return prediction[~prediction.obs[c.IS_CONTROL].to_numpy()].copy(), truth


def scaling(args: argparse.Namespace) -> None:
    """The exponent of time ∝ P^b per metric family, at fixed cells per condition."""
    from vcbench.metrics import evaluate
    from vcbench.metrics.registry import PROFILES, resolve_metrics

    families: dict[str, list[str]] = {}
    for metric in resolve_metrics(list(PROFILES["full"])):
        key = metric.family + (" (cells)" if metric.needs_cells else "")
        families.setdefault(key, []).append(metric.name)
    sizes = []
    size = args.scaling_min
    while size <= args.scaling_max:
        sizes.append(size)
        size *= 2
    print(
        f"P-scaling: {args.scaling_cells} cells per condition, {args.scaling_genes} genes, "
        f"P = {sizes} (load {_load()})"
    )
    pairs = {p: _scaling_pair(p, args.scaling_cells, args.scaling_genes, 0) for p in sizes}
    evaluate(*pairs[sizes[0]], metrics="full")  # warm-up: imports, compiled kernels
    for family, names in families.items():
        times = []
        for p in sizes:
            best = float("inf")
            for _ in range(2):
                start = time.process_time()
                evaluate(*pairs[p], metrics=names, max_cells=args.scaling_cells)
                best = min(best, time.process_time() - start)
            times.append(max(best, 1e-6))
        slope = np.polyfit(np.log(sizes), np.log(times), 1)[0]
        shown = ", ".join(f"{t:.2f}" for t in times)
        print(f"  {family:32s} exponent {slope:4.2f}  (CPU s: {shown})")


# Imported one after another in a fresh process; RSS (MiB) printed after each (``--imports``).
_IMPORT_STAGES = (
    ("numpy", "import numpy"),
    ("pandas (imports pyarrow)", "import pandas"),
    (
        "scipy.sparse, scipy.linalg, scipy.special",
        "import scipy.sparse, scipy.linalg, scipy.special",
    ),
    ("h5py", "import h5py"),
    (
        "vcbench evaluate path",
        "import vcbench.cli.app, vcbench.cli.evaluate, vcbench.metrics.files",
    ),
    (
        "first Sinkhorn kernel call (the compiled module)",
        "import numpy as np; from vcbench.metrics.sinkhorn_kernel import row_logsumexp; "
        "row_logsumexp(np.ones((4, 4)), 1.0, np.zeros(4), np.zeros(4))",
    ),
    ("numba (the fallback kernel; not imported where the C module is built)", "import numba"),
    (
        "first numba kernel call (numba cache)",
        "import numpy as np; from vcbench.metrics.sinkhorn_numba import row_logsumexp; "
        "row_logsumexp(np.ones((4, 4)), 1.0, np.zeros(4), np.zeros(4))",
    ),
    ("anndata (not imported by evaluate)", "import anndata"),
)
_RSS = (
    "def _rss():\n"
    "    fields = dict(l.split(':') for l in open('/proc/self/status') if l.startswith('Rss'))\n"
    "    return sum(int(v.split()[0]) for v in fields.values()) / 1024\n"
)


def imports(args: argparse.Namespace) -> None:
    """RSS after each import stage of ``vcbench evaluate``'s process, and whether anndata loads."""
    lines = [_RSS, "import sys, time", "print('start', _rss(), 0.0)"]
    for name, statement in _IMPORT_STAGES:
        lines += [
            "t = time.process_time()",
            statement,
            f"print({name!r}, _rss(), time.process_time() - t)",
        ]
    done = subprocess.run(
        [sys.executable, "-c", "\n".join(lines)], capture_output=True, text=True, check=True
    )
    print(f"RSS after each import (fresh process, load {_load()}):")
    previous = 0.0
    for line in done.stdout.strip().splitlines():
        name, rss, cpu = line.rsplit(" ", 2)
        print(
            f"  {name:45s} {float(rss):6.0f} MiB (+{float(rss) - previous:4.0f}), {float(cpu):.2f} s CPU"
        )
        previous = float(rss)
    check = (
        "import sys, vcbench.metrics.files; "
        "print([m for m in ('anndata', 'dask', 'numba') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    print(f"  of anndata, dask and numba, the evaluate path imports: {done.stdout.strip()}")


def demo(args: argparse.Namespace) -> None:
    """The demo ``vcbench run``'s wall time per executor (bench_demo_run.py)."""
    script = Path(__file__).with_name("bench_demo_run.py")
    subprocess.run([sys.executable, str(script), "--jobs", str(args.jobs)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="100k × 2k genes × 200 perturbations")
    parser.add_argument("--cells", type=int, default=None, help="perturbed cells")
    parser.add_argument("--genes", type=int, default=None)
    parser.add_argument("--perturbations", type=int, default=None)
    parser.add_argument("--controls", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--skip-cell-eval", action="store_true")
    parser.add_argument(
        "--backed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="vcbench evaluate --backed (the prediction read condition by condition)",
    )
    parser.add_argument("--no-compare", action="store_true", help="skip the cell-eval comparison")
    parser.add_argument("--scaling", action="store_true", help="P-scaling exponents")
    parser.add_argument("--scaling-min", type=int, default=100)
    parser.add_argument("--scaling-max", type=int, default=800)
    parser.add_argument("--scaling-cells", type=int, default=10)
    parser.add_argument("--scaling-genes", type=int, default=200)
    parser.add_argument("--demo", action="store_true", help="demo run's wall time per executor")
    parser.add_argument("--imports", action="store_true", help="RSS after each import stage")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the files in this directory (and reuse them if they exist there)",
    )
    args = parser.parse_args()
    defaults = (100_000, 2_000, 200, 5_000) if args.large else (29_000, 1_000, 60, 1_000)
    for name, value in zip(("cells", "genes", "perturbations", "controls"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, value)
    if not args.no_compare:
        compare(args)
    if args.scaling:
        scaling(args)
    if args.demo:
        demo(args)
    if args.imports:
        imports(args)


if __name__ == "__main__":
    main()
