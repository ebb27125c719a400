"""``scgen``: scGen through pertpy (``pertpy.tl.Scgen``) behind vcbench's model contract.

Lotfollahi, Wolf & Theis, "scGen predicts single-cell perturbation responses", Nature Methods 16
(2019); the JAX re-implementation in ``pertpy`` (``pertpy.tl.Scgen``). Needs the extra
``vcbench[scgen]``: ``pertpy==1.0.3`` (the newest release for Python 3.11) with ``scvi-tools==1.4.2``,
``filelock`` and ``statsmodels<0.15`` (pertpy 1.0.3 imports ``multipletests`` from
``statsmodels.sandbox``, removed in 0.15); tested with torch 2.13.0 on CPU, Python 3.11.

What it supports. scGen's setting: a perturbation (e.g. a cytokine) whose response was seen in some
contexts (cell types / cell lines) is predicted for a context where it was not seen, from that
context's control cells. A perturbation (``vcb_perturbation`` label, combinations included as their
own label) that has no training cells cannot be predicted by scGen's latent arithmetic: ``predict``
raises a ``ModelError`` naming it. Doses are not modelled (``vcb_dose`` is ignored).

Fit. The training cells (log-normalised ``X``, densified to float32) become a new AnnData registered
with ``pertpy.tl.Scgen.setup_anndata(adata, batch_key="vcb_perturbation", labels_key=
"vcb_context")`` (as pertpy's example, ``batch_key`` = condition, ``labels_key`` = cell type), and
``pertpy.tl.Scgen(adata, n_hidden=..., n_latent=..., n_layers=..., dropout_rate=...)`` is trained
by ``Scgen.train(max_epochs=n_epochs, accelerator="cpu", train_size=1.0, batch_size=...,
plan_kwargs={"lr": lr}, early_stopping=False, enable_checkpointing=False, enable_progress_bar=False,
default_root_dir=<a temporary directory>)`` (all cells train; no validation set). Nothing is written
to the working directory and the packages' info messages and warnings are silenced during fit.

Predict. For each perturbation ``p`` queried, δ_p = mean latent of ``p``'s training cells − mean
latent of the training control cells, computed per training context where ``p`` has cells (both
means in that context; a context without training controls uses all training controls) and
averaged over those contexts with equal weight. This is ``Scgen.predict``'s arithmetic
(``delta = latent_stim - latent_ctrl``, stimulated and control cells balanced across cell types);
vcbench computes it from ``Scgen.get_latent_representation`` itself instead of calling
``Scgen.predict`` because that method handles one control/stimulated pair at a time and subsamples
with an unseeded random generator. For each query (context ``k``, perturbation ``p``), at most
``max_cells`` of ``k``'s query control cells (a seeded subsample) are encoded
(``get_latent_representation``, latent means), shifted by δ_p and decoded by the module's
generative network (``model.module.as_bound().generative(z)["px"]``, as ``Scgen.predict`` does);
the decoded cells are the prediction.

Small CPU sizes by default: ``n_hidden=128``, ``n_latent=32``, ``n_layers=2`` (package defaults 800,
100, 2), ``n_epochs=50`` (the package picks up to 400 epochs by data size; the authors use 100 with
early stopping), ``lr=1e-3`` (the package's default). All randomness comes from ``seed``:
``scvi.settings.seed`` (which also seeds the JAX module's random keys) is set inside ``fit`` within
``torch.random.fork_rng``, and numpy's and Python's global random states and the environment
variables that the seed setter writes are restored afterwards. Two fits on CPU predict the same
values.

Parameters (defaults): ``n_hidden=128``, ``n_latent=32``, ``n_layers=2``, ``dropout_rate=0.2``,
``n_epochs=50``, ``batch_size=128``, ``lr=1e-3``, ``max_cells=500``, ``seed=0``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from typing import Any, Self

import anndata as ad
import numpy as np
import pandas as pd
import pertpy

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.adapters.conversion import (
    CONTEXT_KEY,
    PERTURBATION_KEY,
    cells_prediction,
    latent_deltas,
    subsample_controls,
    training_frame,
)
from vcbench.models.adapters.conversion import dense_float32 as _dense
from vcbench.models.adapters.quiet import quiet_packages
from vcbench.models.adapters.scvi_runtime import LIGHTNING_LOGGERS, quiet_and_seeded
from vcbench.models.base import PerturbationModel, Queries
from vcbench.models.effects import query_control_means, training_control_mask

_QUIET_LOGGERS = ("pertpy", "jax", *LIGHTNING_LOGGERS)


class ScGenPertpy(PerturbationModel):
    """scGen (``pertpy.tl.Scgen``) behind the contract; see the module docstring."""

    name = "scgen"

    @classmethod
    def not_applicable(cls, unseen: str | None, params: Mapping[str, Any]) -> str | None:
        if unseen in ("perturbation", "combination"):
            return (
                "scGen's latent arithmetic needs training cells of the perturbation itself, and "
                "the test perturbations have none"
            )
        return None

    def __init__(
        self,
        n_hidden: int = 128,
        n_latent: int = 32,
        n_layers: int = 2,
        dropout_rate: float = 0.2,
        n_epochs: int = 50,
        batch_size: int = 128,
        lr: float = 1e-3,
        max_cells: int | None = 500,
        seed: int = 0,
    ) -> None:
        self.n_hidden = n_hidden
        self.n_latent = n_latent
        self.n_layers = n_layers
        self.dropout_rate = dropout_rate
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_cells = max_cells
        self.seed = seed

    def _check_params(self) -> None:
        sizes = {
            "n_hidden": self.n_hidden,
            "n_latent": self.n_latent,
            "n_layers": self.n_layers,
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
        }
        bad = [k for k, v in sizes.items() if not isinstance(v, int) or v < 1]
        if not self.lr > 0:
            bad.append("lr")
        if bad:
            raise ModelError(
                f"{self.name}: {bad} must be positive (sizes and epochs: integers at least 1)."
            )
        if not 0.0 <= self.dropout_rate < 1.0:
            raise ModelError(f"{self.name}: dropout_rate must be in [0, 1).")
        if self.max_cells is not None and self.max_cells < 1:
            raise ModelError(f"{self.name}: max_cells must be at least 1 or None.")

    def fit(self, train: ad.AnnData) -> Self:
        self._check_params()
        obs = train.obs
        is_control = training_control_mask(train, self.name)
        self.genes_ = train.var_names.copy()
        labels = obs[c.PERTURBATION].astype(str).to_numpy()
        context = obs[c.CONTEXT].astype(str).to_numpy()
        data = training_frame(train, is_control)
        with (
            quiet_and_seeded(self.seed, _QUIET_LOGGERS),
            tempfile.TemporaryDirectory(prefix="vcbench-scgen-") as root,
        ):
            pertpy.tl.Scgen.setup_anndata(data, batch_key=PERTURBATION_KEY, labels_key=CONTEXT_KEY)
            model = pertpy.tl.Scgen(
                data,
                n_hidden=self.n_hidden,
                n_latent=self.n_latent,
                n_layers=self.n_layers,
                dropout_rate=float(self.dropout_rate),
            )
            model.train(
                max_epochs=self.n_epochs,
                accelerator="cpu",
                devices=1,
                train_size=1.0,
                batch_size=self.batch_size,
                plan_kwargs={"lr": float(self.lr)},
                early_stopping=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                default_root_dir=root,
            )
            latent = np.asarray(model.get_latent_representation(data), dtype=np.float64)
        history = model.history
        key = next((k for k in ("train_loss", "elbo_train") if k in history), None)
        self.losses_ = [] if key is None else [float(v) for v in np.ravel(history[key].to_numpy())]
        self.model_ = model
        self.placeholder_ = (str(context[is_control][0]), str(labels[is_control][0]))
        self.deltas_ = latent_deltas(latent, labels, context, is_control)
        return self

    def predict(self, queries: Queries) -> ad.AnnData:
        if not hasattr(self, "model_"):
            raise ModelError(f"{self.name}: call fit() before predict().")
        conditions = queries.conditions.reset_index(drop=True)
        unseen = sorted(set(conditions[c.PERTURBATION].astype(str)) - set(self.deltas_), key=str)
        if unseen:
            raise ModelError(
                f"{self.name}: scGen predicts only perturbations seen in training (its latent "
                f"shift is learned from their cells); no training cells for {unseen}."
            )
        query_control_means(queries, self.genes_)  # errors on missing controls or genes
        model = self.model_
        generative = model.module.as_bound().generative
        rng = np.random.default_rng(self.seed)
        blocks = []
        groups = conditions.groupby(c.CONTEXT, observed=True, sort=False).groups
        for context, rows in groups.items():
            controls = subsample_controls(queries.controls_of(str(context)), self.max_cells, rng)
            n_obs = controls.n_obs
            cells = ad.AnnData(
                X=_dense(controls[:, self.genes_].X),
                obs=pd.DataFrame(
                    # registered categories (the encoder reads only the expression; a context
                    # unseen in training would fail scvi's category check)
                    {CONTEXT_KEY: self.placeholder_[0], PERTURBATION_KEY: self.placeholder_[1]},
                    index=[str(i) for i in range(n_obs)],
                ),
                var=pd.DataFrame(index=self.genes_.astype(str)),
            )
            with quiet_packages(_QUIET_LOGGERS):
                latent = np.asarray(model.get_latent_representation(cells), dtype=np.float32)
            for row in rows:
                label = str(conditions.at[row, c.PERTURBATION])
                shifted = latent + self.deltas_[label].astype(np.float32)
                decoded = np.asarray(generative(shifted)["px"], dtype=np.float32)
                blocks.append((str(context), label, decoded))
        return cells_prediction(
            blocks,
            self.genes_,
            "scGen (pertpy.tl.Scgen): the query's control cells encoded, shifted by the "
            "perturbation's mean latent shift in the training contexts, and decoded",
        )
