"""vcbench in ten minutes, on the bundled demo data (a tutorial script; ``tests/test_tutorial.py``
runs it end to end).

    python docs/guides/tutorial.py [--out tutorial_results]

Steps: look at the data with ``vcbench.distance``; run a small benchmark from a dict with
``vcbench.run``; bring a model class of your own; score a prediction held as a plain AnnData with
``vcbench.evaluate``; write the shared metrics under cell-eval's names.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Self

import anndata as ad
import numpy as np

import vcbench


def main(out: Path) -> dict[str, object]:
    """Run every step; returns the tables it printed (for the test)."""
    from vcbench.datasets import demo

    # 1. The data: how far apart are the glioma cell lines' control cells? (pertpy-style distance
    #    over obs groups; energy distance on the expression, 200 cells per group)
    adata = demo()
    glioma_controls = adata[adata.obs["vcb_is_control"] & (adata.obs["cell_type"] != "k562")].copy()
    lines = vcbench.distance(glioma_controls, groupby="cell_type", max_cells=200)
    print("Energy distance between the glioma lines' control cells:\n", lines.round(3), "\n")

    # 2. A small benchmark, from a dict (the keys of a YAML spec): unseen single perturbations in
    #    each cell line, one seed, three models plus the calibration controls
    spec = {
        "output": str(out / "benchmark"),
        "metrics": ["pdcorr", "rmse", "pds", "energy_distance"],
        "datasets": [{"name": "demo", "source": "demo"}],
        "scenarios": [
            {"name": "perturbation", "variant": "single", "options": {"n_folds": 5}, "seeds": [0]}
        ],
        "models": [{"name": "no_change"}, {"name": "additive"}, {"name": "linear"}],
    }
    results = vcbench.run(spec)
    means = results.pivot_table(index="model", columns="metric", values="value", aggfunc="mean")
    print("Mean over the test conditions:\n", means.round(3), "\n")

    # 3. Your own model: hyper-parameters in __init__, fit(train) -> self, predict(queries)
    from vcbench.models import PerturbationModel, Queries, predict_by_shift
    from vcbench.runner import run_model
    from vcbench.scenarios import make_split

    class ShrunkMean(PerturbationModel):
        """A perturbation's mean effect over the training contexts where it was seen (else the
        context's mean perturbation effect), shrunk towards no change by ``alpha``."""

        name = "shrunk_mean"

        def __init__(self, alpha: float = 0.5) -> None:
            self.alpha = alpha

        def fit(self, train: ad.AnnData) -> Self:
            x = np.asarray(train.X.toarray() if hasattr(train.X, "toarray") else train.X)
            obs = train.obs.reset_index(drop=True)
            self.genes_ = train.var_names
            control_means = {
                k: x[(obs["vcb_context"] == k) & obs["vcb_is_control"]].mean(axis=0)
                for k in obs["vcb_context"].unique()
            }
            perturbed = obs[~obs["vcb_is_control"]]
            effects = {
                key: x[rows].mean(axis=0) - control_means[key[0]]
                for key, rows in perturbed.groupby(
                    ["vcb_context", "vcb_perturbation"]
                ).groups.items()
            }
            self.by_perturbation_ = {
                p: np.mean([e for (_, q), e in effects.items() if q == p], axis=0)
                for p in {q for _, q in effects}
            }
            self.by_context_ = {
                k: np.mean([e for (j, _), e in effects.items() if j == k], axis=0)
                for k in {j for j, _ in effects}
            }
            return self

        def predict(self, queries: Queries) -> ad.AnnData:
            zero = np.zeros(len(self.genes_))
            effects = np.array(
                [
                    self.alpha
                    * self.by_perturbation_.get(
                        row.vcb_perturbation, self.by_context_.get(row.vcb_context, zero)
                    )
                    for row in queries.conditions.itertuples()
                ]
            )
            prediction = predict_by_shift(queries, effects, self.genes_)
            prediction.X = np.clip(prediction.X, 0, None)  # expression is never negative
            return prediction

    model = ShrunkMean()
    before = repr(model)
    print(f"Parameters, scikit-learn style: {before} -> {model.set_params(alpha=0.8)!r}")
    split = make_split(adata, "perturbation", "single", seed=0, n_folds=5)
    own = run_model(adata, split, model, ["pdcorr", "rmse"])
    print("ShrunkMean(alpha=0.8) on unseen singles (pdcorr ignores the scale, rmse does not):")
    print(own.groupby("metric")["value"].mean().round(3), "\n")

    # 4. A prediction held as a plain AnnData with your own obs columns, scored against real cells
    from vcbench.runner import queries_for, truth_for

    fitted = vcbench.models.get_model("additive").fit(adata[split.mask(adata, "train")].copy())
    prediction = fitted.predict(queries_for(adata, split))
    prediction.X = np.clip(prediction.X, 0, None)  # additive sums effects: keep expression >= 0
    truth = truth_for(adata, split)
    for table in (prediction, truth):  # as a user's files would have them
        table.obs = table.obs.rename(
            columns={"vcb_perturbation": "guide", "vcb_context": "cell_line"}
        )[["guide", "cell_line"]]
    scores = vcbench.evaluate(
        prediction,
        truth,
        perturbation_key="guide",
        context_key="cell_line",
        control="control",
        metrics=["pdcorr", "pds"],
        pds_normalisation="p",  # cell-eval's discrimination_score_l1 normalisation
    )
    print("additive, scored from plain obs columns:")
    print(scores.groupby("metric")["value"].mean().round(3), "\n")

    # 5. The shared metrics under cell-eval's names (also: vcbench export RESULTS --format cell-eval)
    from vcbench.metrics.cell_eval import to_cell_eval

    per_perturbation, _ = to_cell_eval(results)
    print(
        "Under cell-eval's names:",
        [
            c
            for c in per_perturbation.columns
            if c in {"pearson_delta", "mse", "mae", "discrimination_score_l1"}
        ],
    )
    return {"distance": lines, "means": means, "own": own, "scores": scores,
            "cell_eval": per_perturbation}  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The vcbench tutorial on the demo data.")
    parser.add_argument("--out", type=Path, default=Path("tutorial_results"))
    main(parser.parse_args().out)
