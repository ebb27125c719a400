"""The adapters to the authors' packages, run for real: fit and predict time, and the seen bar.

CI tests the adapters' data conversion without the packages (tests/test_models_adapter_conversion.py)
and runs gears_official and biolord_official (their extras are in CI); scgen and state_official
need the extras ``vcbench[scgen]`` and ``vcbench[state]``, which CI does not install. This script
runs every adapter whose package is installed on a small simulated case (two contexts, seen
perturbations tested in the second) and prints, per adapter, the fit and predict wall time, pdcorr
and rmse next to ``perturbation_mean`` and ``perturbed_mean``; an adapter whose extra is absent is
printed as skipped, with the reason.

    python benchmarks/bench_adapters.py [--adapters gears_official scgen ...] [--big]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

from vcbench.data.simulate import simulate
from vcbench.errors import ModelError
from vcbench.metrics import evaluate
from vcbench.models import get_model
from vcbench.runner import queries_for, truth_for

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from deep_model_cases import seen_in_other_context_split

SMALL = {
    "gears_official": {"n_epochs": 5, "hidden_size": 16, "decoder_hidden_size": 8, "lr": 5e-3},
    "biolord_official": {"n_epochs": 20},
    "scgen": {"n_epochs": 20, "n_hidden": 64, "n_latent": 16},
    "state_official": {"n_epochs": 20, "hidden_dim": 32, "cell_set_len": 16},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapters", nargs="+", default=list(SMALL))
    parser.add_argument("--big", action="store_true", help="a 4x larger case, package defaults")
    args = parser.parse_args()
    scale = 4 if args.big else 1
    sim = simulate(
        n_contexts=2,
        n_genes=60 * scale,
        n_singles=10 * scale,
        n_combinations=6,
        cells_per_condition=40,
        n_control_cells=100,
        context_modulation=0.1,
        seed=6,
    )
    adata = sim.adata
    split = seen_in_other_context_split(adata)
    train = adata[split.mask(adata, "train")].copy()
    queries, truth = queries_for(adata, split), truth_for(adata, split)
    print(f"case: {adata.n_obs} cells x {adata.n_vars} genes, {len(split.test_conditions)} tests")
    print(f"{'model':18s} {'fit s':>7s} {'predict s':>9s} {'pdcorr':>7s} {'rmse':>7s}")
    for name in ["perturbation_mean", "perturbed_mean", *args.adapters]:
        params = {} if args.big or name not in SMALL else SMALL[name]
        try:
            model = get_model(name, **params)
        except ModelError as exc:
            print(f"{name:18s} skipped: {exc}")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model.fit(train)
            fitted = time.perf_counter()
            prediction = model.predict(queries)
            done = time.perf_counter()
        scores = evaluate(prediction, truth, metrics=["pdcorr", "rmse"])
        mean = scores.groupby("metric")["value"].mean()
        print(
            f"{name:18s} {fitted - start:7.1f} {done - fitted:9.1f} "
            f"{mean['pdcorr']:7.3f} {mean['rmse']:7.3f}"
        )


if __name__ == "__main__":
    main()
