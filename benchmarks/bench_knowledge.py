"""What perturbation knowledge buys on unseen single perturbations, and what it costs to build.

Prints, for the unseen singles of

1. the GO-structured simulator (``simulate(targets="go")``: effects follow GO programmes attached
   to real human targets; seeds 0-2): ``perturbed_mean``, and ``linear`` / ``genepert`` with
   one-hot (``embedding="onehot"``), GO (the default) and oracle (the true programme membership)
   features;
2. the bundled demo's K562 perturbation split (Norman 2019 CRISPRa singles, ``single_split``,
   seed 0, each of its 5 folds; real data): ``perturbed_mean`` and ``linear`` / ``genepert`` with one-hot and GO
   features, and the share of test targets with a GO representation;

the mean over test perturbations of ``pdcorr`` (Pearson correlation of the predicted and true
effects) and ``de_overlap`` (overlap of the top DE genes), and the wall time and peak memory of
building the GO embedding from the shipped annotations (uncached, in a fresh process).

    python benchmarks/bench_knowledge.py [--seeds 0 1 2] [--n-singles 80]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import warnings

import pandas as pd

METRICS = ["pdcorr", "de_overlap"]
BUILD = """
import resource, time
t0 = time.perf_counter()
from vcbench.knowledge.annotations import genes
genes()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t, cpu = time.perf_counter(), time.process_time()
from vcbench.knowledge.go_embedding import go_embedding
table = go_embedding()
print(f"{table.shape[0]} genes x {table.shape[1]} dims in {time.perf_counter() - t:.1f} s wall, "
      f"{time.process_time() - cpu:.1f} s CPU; "
      f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
      f"(+{(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024:.0f} MiB over "
      f"the imports and tables)")
"""


def scores_of(adata, split, models) -> pd.DataFrame:
    from vcbench.runner.task import run_model_timed

    rows = []
    for name, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores, timings = run_model_timed(adata, split, model, METRICS)
        means = scores.groupby("metric")["value"].mean()
        rows.append(
            {"model": name, **means.to_dict(), "coverage": timings.get("representation_coverage")}
        )
    return pd.DataFrame(rows).set_index("model")


def models(oracle=None) -> dict:
    from vcbench.models import GenePert, Linear, PerturbedMean

    out = {"perturbed_mean": PerturbedMean()}
    for source in ["onehot", None, "oracle"]:
        if source == "oracle" and oracle is None:
            continue
        label = {"onehot": "one-hot", None: "GO", "oracle": "oracle"}[source]
        embedding = oracle if source == "oracle" else source
        out[f"linear ({label})"] = Linear(embedding=embedding)
        out[f"genepert ({label})"] = GenePert(embedding=embedding)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--n-singles", type=int, default=80)
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average)")

    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "VCBENCH_CACHE_DIR": cache}
        built = subprocess.run(
            [sys.executable, "-c", BUILD], env=env, capture_output=True, text=True, check=True
        )
        print(f"GO embedding build (uncached): {built.stdout.strip()}")

    from vcbench.data.simulate import go_screen
    from vcbench.datasets.demo import demo
    from vcbench.scenarios.singles import single_split

    tables = []
    for seed in args.seeds:
        sim = go_screen(n_singles=args.n_singles, seed=seed)
        split = single_split(sim.adata, "single", seed=0)
        tables.append(scores_of(sim.adata, split, models(sim.target_programmes)).assign(seed=seed))
    sim_table = pd.concat(tables).groupby(level=0, sort=False).mean(numeric_only=True)
    print(f"\nGO simulator, unseen singles (mean over seeds {args.seeds}):")
    print(sim_table.drop(columns="seed").round(3).to_string())

    data = demo()
    k562 = data[(data.obs["vcb_dataset"] == "norman19").to_numpy()].copy()
    k562 = k562[(k562.obs["vcb_n_targets"] <= 1).to_numpy()].copy()
    measured, tests, tables = set(k562.var_names), [], []
    for fold in range(5):  # the five folds hold out every single once
        split = single_split(k562, "single", n_folds=5, fold=fold, seed=0)
        tests += split.test_conditions["vcb_perturbation"].astype(str).tolist()
        tables.append(scores_of(k562, split, models()))
    print(
        f"\nDemo K562 (norman19) unseen singles, 5 folds: {len(tests)} test perturbations, "
        f"{sum(t in measured for t in tests)} of them target a measured gene (mean over folds)"
    )
    print(pd.concat(tables).groupby(level=0, sort=False).mean().round(3).to_string())


if __name__ == "__main__":
    main()
