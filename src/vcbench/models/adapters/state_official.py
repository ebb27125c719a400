"""``state_official``: Arc Institute's STATE package behind vcbench's model contract.

Adduri et al., "Predicting cellular responses to perturbation across diverse contexts with State"
(Arc Institute, 2025); package ``arc-state`` (import name ``state``; ArcInstitute/state). Needs the
extra ``vcbench[state]``: ``arc-state==0.11.1`` (tested with torch 2.13.0 on CPU, Python 3.11).
vcbench's own re-implementation is ``state`` (``vcbench.models.deep.state``).

Fit. The package's State Transition model, ``state.tx.models.state_transition.
StateTransitionPerturbationModel``, is instantiated directly in Python (no CLI, Hydra config or
cell-load data module) on the log-normalised genes (``input_dim = output_dim = gene_dim = n_genes``,
``embed_key=None``, ``output_space="gene"``, no gene decoder, no batch encoder), with a small
bidirectional ``llama`` backbone (``get_transformer_backbone``), the package's encoders and output
head (``predict_residual=True``), and the package's loss: geomloss' energy distance
(``loss="energy"``) applied per set by ``_compute_distribution_loss``. The perturbation input is
vcbench's ``PerturbationFeatures(features, embedding, n_components)``, by default
``"onehot+embedding"`` (one indicator per target seen in training plus the training PCA embedding
of the targets, summed over a combination's parts), so that perturbations not seen in training get
a prediction.

The package trains with Lightning from cell-load's data module, which reads h5ad files and a TOML
configuration; that does not fit an in-memory AnnData, so this adapter has its own small training
loop (Adam, ``lr``) that builds the sets the way cell-load does with ``basal_mapping_strategy=
"random"``: each step takes ``batch_size`` (context, perturbation) groups of training cells; for
each, ``cell_set_len`` perturbed cells (sampled with replacement when the group is smaller) are the
target set and as many control cells of the same context (random, with replacement when needed)
are the basal set; the model's ``forward`` maps the basal set plus the perturbation embedding to the
predicted set and ``_compute_distribution_loss`` compares it with the target set. One epoch visits
every perturbed group once.

Predict. For each query condition, at most ``max_cells`` of its context's query control cells (a
seeded subsample) are cut into sets of ``cell_set_len`` cells (the last one shorter) and passed
through ``forward(..., padded=False)`` with the query's perturbation feature vector; the outputs are
the predicted cells.

Differences from running STATE directly:

- Own training loop instead of the package's Lightning/cell-load pipeline (see above); no
  validation, no checkpoints, no gradient clipping, no learning-rate schedule.
- No pretrained checkpoints and no State Embedding model: genes are the input space.
- Doses are not modelled (``vcb_dose`` is ignored); contexts enter only through their control cells.
- Small CPU sizes by default: hidden 64, 2 transformer layers of 4 heads, sets of 32 cells
  (the package's configurations use hidden 328-1488, 4-8 layers, sets of 64-512 cells).
- All randomness comes from ``seed``: inside ``fit`` torch runs within ``torch.random.fork_rng``
  and the sets are drawn from a numpy ``Generator``; the global random states are left alone. The
  package's constructor prints the module: that print is swallowed. Two fits on CPU predict the
  same values.

Parameters (defaults): ``hidden_dim=64``, ``n_layers=2`` (transformer layers), ``n_heads=4``,
``cell_set_len=32``, ``n_encoder_layers=2``, ``n_decoder_layers=2``, ``dropout=0.1``,
``blur=0.05``, ``lr=1e-3``, ``n_epochs=100``, ``batch_size=8`` (sets per step),
``features="onehot+embedding"``, ``embedding=None``, ``n_components=10``, ``max_cells=500``,
``seed=0``, ``n_threads=1`` (torch CPU threads during fit and predict; ``None``: torch's default).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Literal, Self

import anndata as ad
import numpy as np
import torch
from state.tx.models.state_transition import StateTransitionPerturbationModel

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.adapters.conversion import (
    cell_set_batch,
    cells_prediction,
    subsample_controls,
    training_groups,
)
from vcbench.models.adapters.quiet import quiet_packages
from vcbench.models.base import PerturbationModel, Queries
from vcbench.models.effects import TrainingEffects, query_control_means, training_control_mask
from vcbench.models.embeddings import (
    EmbeddingSource,
    PerturbationFeatures,
    training_smiles,
)
from vcbench.models.torch_utils import dense_float32 as _dense
from vcbench.models.torch_utils import torch_threads as _threads

_QUIET_LOGGERS = ("state", "lightning", "lightning.pytorch", "transformers")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Swallow stdout (the package prints its module), warnings and info messages."""
    with contextlib.redirect_stdout(io.StringIO()), quiet_packages(_QUIET_LOGGERS):
        yield


class STATEOfficial(PerturbationModel):
    """Arc Institute's STATE (package ``arc-state``) behind the contract; see the module docstring."""

    name = "state_official"

    featurised = True  # the one-hot applicability rule (PerturbationModel.not_applicable)

    def __init__(
        self,
        hidden_dim: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        cell_set_len: int = 32,
        n_encoder_layers: int = 2,
        n_decoder_layers: int = 2,
        dropout: float = 0.1,
        blur: float = 0.05,
        lr: float = 1e-3,
        n_epochs: int = 100,
        batch_size: int = 8,
        features: Literal["onehot", "embedding", "onehot+embedding"] = "onehot+embedding",
        embedding: EmbeddingSource | None = None,
        n_components: int = 10,
        max_cells: int | None = 500,
        seed: int = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.hidden_dim = hidden_dim
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.cell_set_len = cell_set_len
        self.n_encoder_layers = n_encoder_layers
        self.n_decoder_layers = n_decoder_layers
        self.dropout = dropout
        self.blur = blur
        self.lr = lr
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.features = features
        self.embedding = embedding
        self.n_components = n_components
        self.max_cells = max_cells
        self.seed = seed
        self.n_threads = n_threads

    def _check_params(self) -> None:
        sizes = {
            "hidden_dim": self.hidden_dim,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "cell_set_len": self.cell_set_len,
            "n_encoder_layers": self.n_encoder_layers,
            "n_decoder_layers": self.n_decoder_layers,
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
        }
        bad = [k for k, v in sizes.items() if not isinstance(v, int) or v < 1]
        bad += [k for k, v in {"lr": self.lr, "blur": self.blur}.items() if not v > 0]
        if bad:
            raise ModelError(
                f"{self.name}: {bad} must be positive (sizes and epochs: integers at least 1)."
            )
        if isinstance(self.hidden_dim, int) and self.hidden_dim % self.n_heads:
            raise ModelError(f"{self.name}: hidden_dim must be a multiple of n_heads.")
        if not 0.0 <= self.dropout < 1.0:
            raise ModelError(f"{self.name}: dropout must be in [0, 1).")
        if self.max_cells is not None and self.max_cells < 1:
            raise ModelError(f"{self.name}: max_cells must be at least 1 or None.")

    def _build(self, n_genes: int, pert_dim: int) -> StateTransitionPerturbationModel:
        backbone = {
            "hidden_size": self.hidden_dim,
            "intermediate_size": 2 * self.hidden_dim,
            "num_hidden_layers": self.n_layers,
            "num_attention_heads": self.n_heads,
            "num_key_value_heads": self.n_heads,
            "head_dim": self.hidden_dim // self.n_heads,
            "max_position_embeddings": self.cell_set_len,
            "bidirectional_attention": True,
            "attention_dropout": 0.0,
        }
        return StateTransitionPerturbationModel(
            input_dim=n_genes,
            hidden_dim=self.hidden_dim,
            output_dim=n_genes,
            pert_dim=pert_dim,
            gene_dim=n_genes,
            embed_key=None,
            output_space="gene",
            gene_decoder_bool=False,
            decoder_cfg=None,
            transformer_backbone_key="llama",
            transformer_backbone_kwargs=backbone,
            cell_set_len=self.cell_set_len,
            n_encoder_layers=self.n_encoder_layers,
            n_decoder_layers=self.n_decoder_layers,
            dropout=float(self.dropout),
            loss="energy",
            distributional_loss="energy",
            blur=float(self.blur),
            predict_residual=True,
            batch_encoder=False,
            basal_mapping_strategy="random",
            lr=float(self.lr),
        )

    def _features_of(self, labels: list[str] | np.ndarray) -> np.ndarray:
        targets = [c.split_combination(str(p)) for p in labels]
        return self.features_.transform(targets).astype(np.float32)

    def fit(self, train: ad.AnnData) -> Self:
        self._check_params()
        obs = train.obs
        is_control = training_control_mask(train, self.name)
        self.genes_ = train.var_names.copy()
        effects = None
        if self.features != "onehot" and self.embedding is None:
            effects = TrainingEffects.from_train(train, model=self.name).effects
        labels = obs[c.PERTURBATION].astype(str).to_numpy()
        context = obs[c.CONTEXT].astype(str).to_numpy()
        perturbed_targets = [
            t for t in (c.split_combination(p) for p in np.unique(labels[~is_control])) if t
        ]
        self.features_ = PerturbationFeatures(self.features, self.embedding, self.n_components).fit(
            perturbed_targets, effects, self.genes_, smiles=training_smiles(train)
        )
        x = _dense(train.X)
        groups = training_groups(context, labels, is_control)  # (cells, control pool, label)
        feature_rows = self._features_of([g[2] for g in groups])

        rng = np.random.default_rng(self.seed)
        size = self.cell_set_len
        self.losses_: list[float] = []
        with _threads(self.n_threads), _quiet(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = self._build(x.shape[1], feature_rows.shape[1])
            optimizer = torch.optim.Adam(model.parameters(), lr=self.lr)
            model.train()
            for _ in range(self.n_epochs):
                order = rng.permutation(len(groups))
                epoch_loss = []
                for start in range(0, len(order), self.batch_size):
                    chosen = order[start : start + self.batch_size]
                    target, basal, pert = cell_set_batch(x, groups, feature_rows, chosen, size, rng)
                    batch = {
                        "ctrl_cell_emb": torch.from_numpy(basal),
                        "pert_emb": torch.from_numpy(pert),
                    }
                    pred = model(batch, padded=True).reshape(-1, size, x.shape[1])
                    goal = torch.from_numpy(target)
                    loss = model._compute_distribution_loss(pred, goal).nanmean()
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    epoch_loss.append(float(loss.detach()))
                self.losses_.append(float(np.mean(epoch_loss)))
        model.eval()
        self.model_ = model
        return self

    def predict(self, queries: Queries) -> ad.AnnData:
        if not hasattr(self, "model_"):
            raise ModelError(f"{self.name}: call fit() before predict().")
        with _threads(self.n_threads), _quiet(), torch.no_grad():
            return self._predict(queries)

    def _predict(self, queries: Queries) -> ad.AnnData:
        conditions = queries.conditions.reset_index(drop=True)
        query_control_means(queries, self.genes_)  # errors on missing controls or genes
        features = self._features_of(conditions[c.PERTURBATION].astype(str).to_numpy())
        model = self.model_
        model.eval()
        rng = np.random.default_rng(self.seed)
        blocks = []
        groups = conditions.groupby(c.CONTEXT, observed=True, sort=False).groups
        for context, rows in groups.items():
            controls = subsample_controls(queries.controls_of(str(context)), self.max_cells, rng)
            x = torch.from_numpy(_dense(controls[:, self.genes_].X))
            n_obs = x.shape[0]
            for row in rows:
                pert = torch.from_numpy(features[row]).view(1, -1)
                outputs = []
                for start in range(0, n_obs, self.cell_set_len):
                    basal = x[start : start + self.cell_set_len]
                    batch = {"ctrl_cell_emb": basal, "pert_emb": pert.repeat(basal.shape[0], 1)}
                    outputs.append(model(batch, padded=False).cpu().numpy().astype(np.float32))
                label = conditions.at[row, c.PERTURBATION]
                blocks.append((str(context), label, np.vstack(outputs)))
        return cells_prediction(
            blocks,
            self.genes_,
            "STATE (official package arc-state): the query's control cells in sets through "
            "StateTransitionPerturbationModel.forward with the perturbation's feature vector",
        )
