"""``biolord_official``: the authors' biolord package behind vcbench's model contract.

Piran et al., "Disentanglement of single-cell data with biolord", Nature Biotechnology 42 (2024);
package ``biolord`` (nitzanlab/biolord). Needs the extra ``vcbench[biolord]``: ``biolord==0.0.3``
with ``scvi-tools==1.4.2`` (tested with torch 2.13.0 on CPU, Python 3.11). vcbench's own
re-implementation is ``biolord`` (``vcbench.models.deep.biolord``).

Fit. The training cells (log-normalised ``X``, densified to float32) become a new AnnData with two
known attributes, registered with ``biolord.Biolord.setup_anndata(adata,
ordered_attributes_keys=["vcb_perturbation_features"], categorical_attributes_keys=["vcb_context"])``:

- the context, a categorical attribute;
- the perturbation, an ordered attribute given by a feature vector in ``obsm`` (as in the authors'
  Norman et al. perturbation-screen setting, where it is a gene-neighbourhood vector): vcbench's
  ``PerturbationFeatures(features, embedding, n_components)``, by default ``"onehot+embedding"``
  (one indicator per target seen in training plus the training PCA embedding of the targets, summed
  over a combination's parts), so that perturbations not seen in training get a prediction.
  Control cells get the zero vector.

``biolord.Biolord(adata, n_latent=..., module_params=..., train_classifiers=False)`` is then trained
by ``Biolord.train(max_epochs=n_epochs, accelerator="cpu", train_size=1.0, batch_size=...,
plan_kwargs=..., early_stopping=False, enable_checkpointing=False, enable_progress_bar=False,
limit_val_batches=0, default_root_dir=<a temporary directory>)``. ``train_size=1.0`` because biolord has no encoder:
each training cell's *unknown attributes* are a learned embedding row, and a cell held out for
validation would keep its random initial row (so there is no validation and no early stopping).
Nothing is written to the working directory (no checkpoints; lightning's root directory is a
temporary directory; scvi's in-memory logger), no progress bar is shown and the package's info
messages are silenced during fit.

Predict. For each query condition, at most ``max_cells`` of its context's query control cells (a
seeded subsample) are turned into biolord's input tensors with ``Biolord.get_dataset``, their
perturbation attribute is replaced by the query's feature vector (repeated over the cells), and
``BiolordModule.get_expression`` decodes them; the decoded means are the predicted cells. This is
the counterfactual prediction of the authors' perturbation-screen scripts (``dataset_control =
model.get_dataset(adata_control)``; ``dataset_pred[key] = repeat_n(features, n_obs)``;
``model.module.get_expression(dataset_pred)``). ``Biolord.compute_prediction_adata`` does the same
swap but only for categorical target attributes, so it cannot take a perturbation feature vector.

Differences from running biolord directly:

- A query control cell must have a learned row of unknown attributes: a query control that is a
  training cell (same ``obs`` name and expression) uses its own row and context; any other query
  control cell (e.g. of a context whose controls did not train) uses the row and context of its
  nearest training control cell (Euclidean distance on the genes; training controls of the same
  context when there are any).
- Doses are not modelled (``vcb_dose`` is ignored).
- Small CPU sizes by default: decoder 2 layers of 128 (package default 4 of 512), attribute network
  2 layers of 64 (as the authors' Norman configuration); ``n_epochs=50`` (the package picks up to
  400 epochs by data size); the Norman configuration's learning rates and weight decays (latents
  1e-2 / 1e-5, decoder 1e-2 / 1e-2, attribute network 1e-3 / 4e-8) with a cosine schedule to 1e-5.
- ``batch_size`` is raised by the fewest cells needed so that no mini-batch has fewer than 3 cells
  (a batch of one cell breaks the attribute network's batch normalisation in training mode).
- All randomness comes from ``seed``: ``scvi.settings.seed`` and the module's ``seed`` are set inside
  ``fit``, within ``torch.random.fork_rng``, and numpy's and Python's global random states and the
  environment variables that the seed setter writes are restored afterwards. Two fits on CPU
  predict the same values.

Parameters (defaults): ``n_latent=32`` (unknown attributes), ``n_latent_attribute_ordered=16``,
``n_latent_attribute_categorical=4``, ``decoder_width=128``, ``decoder_depth=2``,
``attribute_nn_width=64``, ``attribute_nn_depth=2``, ``reconstruction_penalty=100.0``,
``unknown_attribute_penalty=10.0``, ``unknown_attribute_noise_param=0.1``,
``unknown_attributes=True`` (False: no per-cell latent, every predicted cell of a condition is the
same), ``use_batch_norm=False``, ``attribute_dropout_rate=0.0``, ``latent_lr=1e-2``,
``latent_wd=1e-5``, ``decoder_lr=1e-2``, ``decoder_wd=1e-2``, ``attribute_nn_lr=1e-3``,
``attribute_nn_wd=4e-8``, ``n_epochs=50``, ``batch_size=128``, ``features="onehot+embedding"``,
``embedding=None``, ``n_components=10``, ``max_cells=500``, ``seed=0``, ``n_threads=1`` (torch CPU
threads during fit and predict; ``None``: torch's default).
"""

from __future__ import annotations

import tempfile
from typing import Literal, Self

import anndata as ad
import biolord
import numpy as np
import torch

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.adapters.biolord_format import (
    FEATURES_KEY,
    biolord_frame,
    safe_batch_size,
    training_rows,
)
from vcbench.models.adapters.conversion import CONTEXT_KEY, cells_prediction, subsample_controls
from vcbench.models.adapters.scvi_runtime import LIGHTNING_LOGGERS, quiet_and_seeded
from vcbench.models.base import PerturbationModel, Queries
from vcbench.models.effects import TrainingEffects, query_control_means, training_control_mask
from vcbench.models.embeddings import (
    EmbeddingSource,
    PerturbationFeatures,
    training_smiles,
)
from vcbench.models.torch_utils import torch_threads as _threads

__all__ = ["CONTEXT_KEY", "FEATURES_KEY", "BiolordOfficial"]
_QUIET_LOGGERS = ("biolord", *LIGHTNING_LOGGERS)


class BiolordOfficial(PerturbationModel):
    """The authors' biolord (package ``biolord``) behind the contract; see the module docstring."""

    name = "biolord_official"

    featurised = True  # the one-hot applicability rule (PerturbationModel.not_applicable)

    def __init__(
        self,
        n_latent: int = 32,
        n_latent_attribute_ordered: int = 16,
        n_latent_attribute_categorical: int = 4,
        decoder_width: int = 128,
        decoder_depth: int = 2,
        attribute_nn_width: int = 64,
        attribute_nn_depth: int = 2,
        reconstruction_penalty: float = 100.0,
        unknown_attribute_penalty: float = 10.0,
        unknown_attribute_noise_param: float = 0.1,
        unknown_attributes: bool = True,
        use_batch_norm: bool = False,
        attribute_dropout_rate: float = 0.0,
        latent_lr: float = 1e-2,
        latent_wd: float = 1e-5,
        decoder_lr: float = 1e-2,
        decoder_wd: float = 1e-2,
        attribute_nn_lr: float = 1e-3,
        attribute_nn_wd: float = 4e-8,
        n_epochs: int = 50,
        batch_size: int = 128,
        features: Literal["onehot", "embedding", "onehot+embedding"] = "onehot+embedding",
        embedding: EmbeddingSource | None = None,
        n_components: int = 10,
        max_cells: int | None = 500,
        seed: int = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.n_latent = n_latent
        self.n_latent_attribute_ordered = n_latent_attribute_ordered
        self.n_latent_attribute_categorical = n_latent_attribute_categorical
        self.decoder_width = decoder_width
        self.decoder_depth = decoder_depth
        self.attribute_nn_width = attribute_nn_width
        self.attribute_nn_depth = attribute_nn_depth
        self.reconstruction_penalty = reconstruction_penalty
        self.unknown_attribute_penalty = unknown_attribute_penalty
        self.unknown_attribute_noise_param = unknown_attribute_noise_param
        self.unknown_attributes = unknown_attributes
        self.use_batch_norm = use_batch_norm
        self.attribute_dropout_rate = attribute_dropout_rate
        self.latent_lr = latent_lr
        self.latent_wd = latent_wd
        self.decoder_lr = decoder_lr
        self.decoder_wd = decoder_wd
        self.attribute_nn_lr = attribute_nn_lr
        self.attribute_nn_wd = attribute_nn_wd
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
            "n_latent": self.n_latent,
            "n_latent_attribute_ordered": self.n_latent_attribute_ordered,
            "n_latent_attribute_categorical": self.n_latent_attribute_categorical,
            "decoder_width": self.decoder_width,
            "decoder_depth": self.decoder_depth,
            "attribute_nn_width": self.attribute_nn_width,
            "attribute_nn_depth": self.attribute_nn_depth,
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
        }
        bad = [k for k, v in sizes.items() if not isinstance(v, int) or v < 1]
        rates = {
            "latent_lr": self.latent_lr,
            "decoder_lr": self.decoder_lr,
            "attribute_nn_lr": self.attribute_nn_lr,
        }
        bad += [k for k, v in rates.items() if not v > 0]
        if bad:
            raise ModelError(
                f"{self.name}: {bad} must be positive (sizes and epochs: integers at least 1)."
            )
        if self.max_cells is not None and self.max_cells < 1:
            raise ModelError(f"{self.name}: max_cells must be at least 1 or None.")

    def _module_params(self) -> dict:
        return {
            "n_latent_attribute_ordered": self.n_latent_attribute_ordered,
            "n_latent_attribute_categorical": self.n_latent_attribute_categorical,
            "reconstruction_penalty": float(self.reconstruction_penalty),
            "unknown_attribute_penalty": float(self.unknown_attribute_penalty),
            "unknown_attribute_noise_param": float(self.unknown_attribute_noise_param),
            "unknown_attributes": bool(self.unknown_attributes),
            "use_batch_norm": bool(self.use_batch_norm),
            "use_layer_norm": False,
            "attribute_dropout_rate": float(self.attribute_dropout_rate),
            "decoder_width": self.decoder_width,
            "decoder_depth": self.decoder_depth,
            "attribute_nn_width": self.attribute_nn_width,
            "attribute_nn_depth": self.attribute_nn_depth,
            "gene_likelihood": "normal",
            "seed": self.seed,
        }

    def _plan_kwargs(self) -> dict:
        return {
            "latent_lr": self.latent_lr,
            "latent_wd": self.latent_wd,
            "decoder_lr": self.decoder_lr,
            "decoder_wd": self.decoder_wd,
            "attribute_nn_lr": self.attribute_nn_lr,
            "attribute_nn_wd": self.attribute_nn_wd,
            "n_epochs_warmup": 0,
            "cosine_scheduler": True,
            "scheduler_max_epochs": self.n_epochs,
            "scheduler_final_lr": 1e-5,
            "step_size_lr": 1,  # step the cosine schedule every epoch
        }

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
        unique_labels, codes = np.unique(labels, return_inverse=True)
        targets = [c.split_combination(p) for p in unique_labels]
        perturbed_targets = [t for t in targets if t]
        self.features_ = PerturbationFeatures(self.features, self.embedding, self.n_components).fit(
            perturbed_targets, effects, self.genes_, smiles=training_smiles(train)
        )
        feature_table = self.features_.transform(targets).astype(np.float32)

        data = biolord_frame(train, is_control, feature_table[codes], self.genes_)
        batch_size = safe_batch_size(data.n_obs, self.batch_size)

        with (
            _threads(self.n_threads),
            quiet_and_seeded(self.seed, _QUIET_LOGGERS),
            tempfile.TemporaryDirectory(prefix="vcbench-biolord-") as root,
        ):
            biolord.Biolord.setup_anndata(
                data,
                ordered_attributes_keys=[FEATURES_KEY],
                categorical_attributes_keys=[CONTEXT_KEY],
            )
            model = biolord.Biolord(
                adata=data,
                n_latent=self.n_latent,
                module_params=self._module_params(),
                train_classifiers=False,
            )
            model.train(
                max_epochs=self.n_epochs,
                accelerator="cpu",
                device=1,
                train_size=1.0,
                batch_size=batch_size,
                plan_kwargs=self._plan_kwargs(),
                early_stopping=False,
                enable_checkpointing=False,
                enable_progress_bar=False,
                enable_model_summary=False,
                limit_val_batches=0,  # no validation set (lightning rejects an empty one)
                num_sanity_val_steps=0,
                default_root_dir=root,
            )
        model.module.eval()
        history = model.training_plan.epoch_history
        self.losses_ = [float(v) for v in history.get("reconstruction_loss", [])]
        self.model_ = model
        self.data_ = data
        self.batch_size_ = batch_size
        return self

    def predict(self, queries: Queries) -> ad.AnnData:
        if not hasattr(self, "model_"):
            raise ModelError(f"{self.name}: call fit() before predict().")
        with _threads(self.n_threads), torch.no_grad():
            return self._predict(queries)

    def _predict(self, queries: Queries) -> ad.AnnData:
        conditions = queries.conditions.reset_index(drop=True)
        query_control_means(queries, self.genes_)  # errors on missing controls or genes
        features = self._features_of(conditions[c.PERTURBATION].astype(str).to_numpy())
        model = self.model_
        model.module.eval()
        rng = np.random.default_rng(self.seed)
        blocks = []
        groups = conditions.groupby(c.CONTEXT, observed=True, sort=False).groups
        for context, rows in groups.items():
            controls = subsample_controls(queries.controls_of(str(context)), self.max_cells, rng)
            cells = training_rows(self.data_, controls, str(context))
            dataset = model.get_dataset(self.data_, indices=cells)
            n_obs = len(cells)
            for row in rows:
                tensors = dict(dataset)
                tensors[FEATURES_KEY] = torch.from_numpy(features[row]).view(1, -1).repeat(n_obs, 1)
                means, _ = model.module.get_expression(tensors)
                label = conditions.at[row, c.PERTURBATION]
                blocks.append((str(context), label, means.cpu().numpy().astype(np.float32)))
        return cells_prediction(
            blocks,
            self.genes_,
            "biolord (official package): the query's control cells decoded by "
            "BiolordModule.get_expression with the perturbation attribute swapped",
        )
