"""Every model with its default settings on three tasks, beside `perturbed_mean` and `additive`.

Tasks: the bundled demo's combination split (K562, seed 0), unseen single perturbations of the
GO-structured simulator (`go_screen`: 200 genes, 80 GO targets, seed 0) and the combinations of two
training targets (`combo_unseen0`) of the additive-combination simulator (`combination_screen`,
seed 0; combination split seed 0). For each
model it prints the mean over test conditions of `pdcorr` and `de_overlap`, the collapse diagnostic
(`effect_diversity`, `effect_correlation`, vcbench.metrics.collapse), the fit wall and CPU time and
`pdcorr − perturbed_mean` (on the combination task `pdcorr` and `de_overlap` over `combo_unseen0`,
the collapse diagnostic over all its test conditions). State the machine's load (`uptime`) beside
the times you report.

    python benchmarks/bench_models.py [--quick] [--tasks demo go combo] [--models cpa gears ...]
        [--out models.csv]

`--quick` trains every trainable model for 2 epochs (a smoke run; the scores mean nothing).
A model that fails is reported with its error and the run goes on.
"""

from __future__ import annotations

import argparse
import inspect
import time
import warnings

import pandas as pd

from vcbench.data.simulate import combination_screen, go_screen
from vcbench.datasets.demo import demo
from vcbench.errors import NotApplicableError
from vcbench.models import get_model
from vcbench.models.registry import LAZY_MODELS, get_model_class
from vcbench.runner.task import run_model_timed
from vcbench.scenarios.registry import make_split
from vcbench.scenarios.singles import single_split

REFERENCES = ["perturbed_mean", "additive"]
# the numpy models that learn, then every model of the torch extra, in the registry's order
MODELS = ["linear", "genepert", *(n for n, (_, extra) in LAZY_MODELS.items() if extra == "torch")]
METRICS = ["pdcorr", "de_overlap"]
QUICK_EPOCHS = 2
TASKS = ["demo", "go", "combo"]


def tasks(names: list[str]) -> dict[str, tuple]:
    """(data, split, the split category scored or None for all) of each task asked for."""
    found = {}
    if "demo" in names:
        data = demo()
        found["demo combo (k562)"] = (
            data,
            make_split(data, "perturbation", "combo", seed=0, context="k562"),
            None,
        )
    if "go" in names:
        sim = go_screen(seed=0)
        found["GO simulator (unseen singles)"] = (sim.adata, single_split(sim.adata, seed=0), None)
    if "combo" in names:
        sim = combination_screen(seed=0)
        split = make_split(sim.adata, "perturbation", "combo", seed=0)
        found["additive-combination simulator (combinations of training targets)"] = (
            sim.adata,
            split,
            "combo_unseen0",
        )
    return found


def run_one(data, split, category: str | None, name: str, quick: bool) -> dict[str, object]:
    params = {}
    if quick and "n_epochs" in inspect.signature(get_model_class(name).__init__).parameters:
        params["n_epochs"] = QUICK_EPOCHS
    cpu = time.process_time()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores, timings = run_model_timed(data, split, get_model(name, **params), METRICS)
        if category is not None:
            scores = scores[scores["split_category"] == category]
    except NotApplicableError as exc:  # skipped by the runner too, with this reason
        return {"model": name, "error": f"not applicable: {str(exc).split(': ', 1)[-1]}"[:120]}
    except Exception as exc:  # report and go on
        return {"model": name, "error": f"{type(exc).__name__}: {exc}"[:120]}
    means = scores.groupby("metric")["value"].mean()
    return {
        "model": name,
        **{metric: means.get(metric) for metric in METRICS},
        "effect_diversity": timings.get("effect_diversity"),
        "effect_correlation": timings.get("effect_correlation"),
        "fit_s": timings.get("fit_seconds", 0.0),
        "task_cpu_s": time.process_time() - cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EPOCHS} epochs per model")
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS)
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--out", help="also write the table to this CSV file")
    args = parser.parse_args()
    frames = []
    for label, (data, split, category) in tasks(args.tasks).items():
        rows = [
            run_one(data, split, category, name, args.quick) for name in REFERENCES + args.models
        ]
        table = pd.DataFrame(rows)
        if "pdcorr" in table:
            floor = table.loc[table["model"] == "perturbed_mean", "pdcorr"]
            table["pdcorr_vs_pm"] = table["pdcorr"] - (
                floor.iloc[0] if len(floor) else float("nan")
            )
        if "error" in table:  # last, so that the numbers stay readable
            table = table[[c for c in table.columns if c != "error"] + ["error"]]
        print(f"\n{label}{' (--quick: scores mean nothing)' if args.quick else ''}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        frames.append(table.assign(task=label))
    if args.out:
        pd.concat(frames).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
