"""biolord: disentanglement of known and unknown attributes by latent optimisation.

Piran, Yosef, Zhang, Rossenthal, Khoury, Zhao, Shalek, Nitzan: "Disentanglement of single-cell
data with biolord", Nature Biotechnology 42, 1678–1683 (2024); public code nitzanlab/biolord.
Needs the optional extra ``vcbench[torch]``.

Model. Every training cell ``i`` has a free vector of *unknown attributes* ``zᵢ`` (``n_latent``
dimensions, an embedding table over the training cells: there is no encoder). The *known
attributes* are embedded by attribute encoders:

- the context (categorical): a learned embedding ``e_k = E_k k`` (``k`` the one-hot of the
  context; a context not seen in training has ``k = 0`` and so ``e_k = 0``);
- the perturbation with its dose (an ordered attribute, as biolord's drug descriptors concatenated
  with the dose in its sci-Plex setting): ``e_p = g([f_p, d])``, ``f_p`` the perturbation features
  (one-hot of the seen targets and/or their embedding-table rows; an unseen perturbation gets an
  embedding through the embedding part), ``d`` the dose input (1 for perturbed cells of data
  without doses, 0 for controls). ``g`` is a bias-free MLP with ReLU after every layer (biolord's
  ordered-attribute network), so a control cell (``f_p = 0, d = 0``) has ``e_p = 0``.

A decoder maps the concatenation ``u = [zᵢ, e_k, e_p]`` to a Gaussian over the log-normalised
expression: ``h = MLP(u)``, mean ``μ = W_μ h + b_μ``, variance ``σ² = exp(W_σ h + b_σ)``.

Cell embedding (``cell_embedding_key``, ``vcbench.models.cell_inputs``): the cell's embedding
``e`` is one more known ordered attribute, ``e_c = g_c(e)`` (an attribute network like ``g``), so
``u = [zᵢ, e_k, e_p, e_c]`` (biolord's way of taking a per-cell vector); training uses each cell's
own embedding, latent inference and prediction the query control cell's. The decoder still gives
the expression.

Training objective (minimised with Adam over the latents, the decoder and the attribute encoders
jointly, in mini-batches of training cells; perturbed and control cells alike):

``L = GaussNLL(x; μ, σ²) + λ_rec · MSE(x, μ) + λ_z · mean_i ‖z̃ᵢ‖²``,

``GaussNLL = mean_{i,g} ½ (log σ²_{ig} + (x_{ig} − μ_{ig})² / σ²_{ig})`` and ``MSE`` averaged over
cells and genes, ``z̃ᵢ = zᵢ + ε``, ``ε ~ N(0, σ_z² I)`` fresh at each step (the activation penalty
``λ_z`` and the noise ``σ_z`` keep the unknown latents from encoding the known attributes).

Prediction (decoded means, one predicted cell per query control cell): each query control cell
``x₀`` gets its unknown attributes by latent optimisation with everything else frozen: ``z₀``
minimises the same objective for ``x₀`` with the control's known attributes (its context, ``f_p =
0``, ``d = 0``), from ``z = 0``, ``infer_steps`` Adam steps at a learning rate decaying from
``infer_lr`` to 0 along a cosine (deterministic). The predicted cell is ``μ(z₀, e_k, e_p)`` with the
query's perturbation (and dose) attributes swapped in: biolord's counterfactual prediction.

Validation (early stopping): a held-out cell has no trained latent. Each one is paired once (drawn
at set-up) with a training control cell of its context, and decoded from that control's latent (no
noise) with the held-out cell's known attributes; the validation loss is the mean squared error
of these decoded means. This is the prediction's own operation (swap the attributes of a control
cell), so training stops when the attribute swap stops improving. A held-out cell of a context
without training controls is decoded from ``z = 0``.

Defaults (biolord's module defaults, scaled to CPU where marked): ``n_latent=32``,
``n_latent_attribute_categorical=4``, ``n_latent_attribute_ordered=16``, ``reconstruction_penalty
=100``, ``unknown_attribute_penalty=10``, ``unknown_attribute_noise=0.1``, ``attribute_dropout=0.1``,
``weight_decay=1e-4``, ``batch_size=128``; decoder 2 hidden layers of 256 (biolord: 4 of 512),
attribute network 2 layers of 64 (biolord: 4 of 512); ``lr=3e-3`` (decoder and attribute encoders)
and ``latent_lr=1e-2`` (biolord: 1e-4 for all, for hundreds of epochs); at most ``n_epochs=100``
epochs with ``patience=20`` (biolord: at most 400 epochs on data this small, patience 20);
``infer_steps=200``, ``infer_lr=0.05``.

Deviations from the original:

- Widths and depths scaled down (decoder 256×2, attribute network 64×2) to train on CPU in well
  under a minute on the demo; the latent sizes are biolord's.
- Learning rates raised (3e-3 for the networks, 1e-2 for the latents, instead of 1e-4) so that
  100 epochs suffice; the latents' rate stays below the networks' (as in biolord's sci-Plex
  configuration, where the attribute network learns 100 times faster than the latents): with a
  faster latent rate the free latents absorb the perturbation effects before the attribute encoders
  learn them, and the swap predicts little. Learning rates are constant, as biolord's scheduler in
  effect is on these epoch counts. One rate ``lr`` serves the decoder and both attribute encoders
  (biolord has separate rates with the same default); ``weight_decay`` applies to every group.
- biolord's Perturb-seq experiments (Norman, Adamson) trained on one pseudo-bulk profile per single
  perturbation with the unknown latents switched off; we follow biolord's general single-cell
  model (per-cell latents, as the method is defined), trained on single cells, combinations
  included, and predict combinations directly rather than by adding predicted single effects.
- No batch norm (biolord's module default has it; its perturbation configurations switch it off):
  it would break ``e_p = 0`` for controls and couple the cells of a batch during latent inference.
- The perturbation attribute is the project's feature vector ``f_p`` concatenated with the dose,
  through one ordered-attribute network (biolord used a categorical embedding for a plain label,
  and drug descriptors + dose or GO-graph gene features for unseen perturbations); with one-hot
  features this network acts as a learned embedding of the seen perturbations.
- The context's categorical embedding is applied to its one-hot, so an unseen context gets the zero
  embedding (biolord cannot embed a category it did not see).
- Query control cells are not training rows, so their unknown latents are inferred by a fixed
  number of Adam steps on the frozen model (biolord predicts from the stored latents of its own
  training cells). The validation scheme above is ours (biolord validates held-out cells with their
  never-trained latent rows and monitors an R² of condition means and variances). It monitors the
  MSE only, not the Gaussian NLL: the decoder's variance shrinks as the latents explain each
  training cell, so the NLL of a swapped decoding rises while its mean (the prediction) improves.
- The variance head's log-variance is clamped to [−10, 10] for numerical safety.
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Literal

import torch
from torch import nn

from vcbench.errors import ModelError
from vcbench.models.base import Queries
from vcbench.models.deep.common import (
    ConditionInputs,
    DeepModel,
    FeatureKind,
    SelectionKind,
    TrainingData,
)
from vcbench.models.embeddings import EmbeddingSource
from vcbench.models.torch_utils import torch_threads

LOG_VAR_BOUND = 10.0


def reconstruction_loss(
    mean: torch.Tensor, log_var: torch.Tensor, x: torch.Tensor, penalty: float
) -> torch.Tensor:
    """Per-cell reconstruction loss (a vector): the Gaussian NLL (constant dropped) plus
    ``penalty`` times the squared error, each averaged over genes."""
    nll = 0.5 * (log_var + (x - mean) ** 2 * torch.exp(-log_var))
    return (nll + penalty * (x - mean) ** 2).mean(dim=1)


class _AttributeNet(nn.Module):
    """biolord's ordered-attribute network: bias-free Linear → ReLU (→ Dropout) layers, the last
    one included, so a zero input maps to a zero embedding."""

    def __init__(self, n_in: int, width: int, n_out: int, depth: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        sizes = [n_in] + [width] * (depth - 1) + [n_out]
        for a, b in pairwise(sizes):
            layers += [nn.Linear(a, b, bias=False), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _BioLORDNet(nn.Module):
    def __init__(
        self,
        n_cells: int,
        n_genes: int,
        n_contexts: int,
        n_features: int,
        model: BioLORD,
        n_cell_embedding: int = 0,
    ) -> None:
        super().__init__()
        self.latents = nn.Embedding(n_cells, model.n_latent)
        self.context_embedding = nn.Linear(
            n_contexts, model.n_latent_attribute_categorical, bias=False
        )
        nn.init.normal_(self.context_embedding.weight)  # as nn.Embedding's rows
        self.perturbation_net = _AttributeNet(
            n_features + 1,
            model.attribute_nn_width,
            model.n_latent_attribute_ordered,
            model.attribute_nn_depth,
            model.attribute_dropout,
        )
        n_in = (
            model.n_latent + model.n_latent_attribute_categorical + model.n_latent_attribute_ordered
        )
        self.cell_net = None  # the cell-embedding attribute network (cell_embedding_key)
        if n_cell_embedding:
            self.cell_net = _AttributeNet(
                n_cell_embedding,
                model.attribute_nn_width,
                model.n_latent_attribute_ordered,
                model.attribute_nn_depth,
                model.attribute_dropout,
            )
            n_in += model.n_latent_attribute_ordered
        trunk: list[nn.Module] = []
        for i in range(model.decoder_depth):
            trunk += [nn.Linear(n_in if i == 0 else model.decoder_width, model.decoder_width)]
            trunk += [nn.ReLU()]
        self.trunk = nn.Sequential(*trunk)
        width = model.decoder_width if model.decoder_depth else n_in
        self.mean_head = nn.Linear(width, n_genes)
        self.log_var_head = nn.Linear(width, n_genes)

    def attributes(
        self,
        covariates: torch.Tensor,
        features: torch.Tensor,
        dose: torch.Tensor,
        cells: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The known-attribute embeddings ``[e_k, e_p]`` (cells × dims), and ``e_c`` of the cell
        embeddings ``cells`` when the model takes one."""
        perturbation = torch.cat([features, dose.reshape(-1, 1)], dim=1)
        parts = [self.context_embedding(covariates), self.perturbation_net(perturbation)]
        if self.cell_net is not None:
            assert cells is not None  # the model has a cell_embedding_key
            parts.append(self.cell_net(cells))
        return torch.cat(parts, dim=1)

    def decode(self, z: torch.Tensor, attributes: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The Gaussian mean and log-variance of the expression."""
        h = self.trunk(torch.cat([z, attributes], dim=1))
        log_var = self.log_var_head(h).clamp(-LOG_VAR_BOUND, LOG_VAR_BOUND)
        return self.mean_head(h), log_var


class BioLORD(DeepModel):
    """biolord (Piran et al., Nature Biotechnology 2024): per-cell unknown latents found by latent
    optimisation, attribute encoders for context and perturbation (+ dose), a Gaussian decoder;
    prediction by swapping the perturbation attribute of each query control cell, whose latent is
    inferred on the frozen model (module docstring). ``cell_embedding_key``: an ``obsm`` key whose
    embedding is one more known attribute (None: none)."""

    name = "biolord"

    def __init__(
        self,
        n_latent: int = 32,
        n_latent_attribute_categorical: int = 4,
        n_latent_attribute_ordered: int = 16,
        decoder_width: int = 256,
        decoder_depth: int = 2,
        attribute_nn_width: int = 64,
        attribute_nn_depth: int = 2,
        attribute_dropout: float = 0.1,
        reconstruction_penalty: float = 100.0,
        unknown_attribute_penalty: float = 10.0,
        unknown_attribute_noise: float = 0.1,
        latent_lr: float = 1e-2,
        infer_steps: int = 200,
        infer_lr: float = 0.05,
        cell_embedding_key: str | None = None,
        features: FeatureKind = "onehot+embedding",
        embedding: EmbeddingSource | None = None,
        n_components: int = 10,
        n_epochs: int = 100,
        batch_size: int = 128,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        patience: int | None = 20,
        validation_fraction: float = 0.1,
        max_cells: int | None = 500,
        seed: int = 0,
        device: str = "cpu",
        n_threads: int | None = 1,
        selection: SelectionKind = "effect",
        validation_perturbations: float = 0.2,
        predict_effect: bool | Literal["auto"] = "auto",
    ) -> None:
        self.n_latent = n_latent
        self.n_latent_attribute_categorical = n_latent_attribute_categorical
        self.n_latent_attribute_ordered = n_latent_attribute_ordered
        self.decoder_width = decoder_width
        self.decoder_depth = decoder_depth
        self.attribute_nn_width = attribute_nn_width
        self.attribute_nn_depth = attribute_nn_depth
        self.attribute_dropout = attribute_dropout
        self.reconstruction_penalty = reconstruction_penalty
        self.unknown_attribute_penalty = unknown_attribute_penalty
        self.unknown_attribute_noise = unknown_attribute_noise
        self.latent_lr = latent_lr
        self.infer_steps = infer_steps
        self.infer_lr = infer_lr
        self.cell_embedding_key = cell_embedding_key
        self._init_common(
            features=features,
            embedding=embedding,
            n_components=n_components,
            n_epochs=n_epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            patience=patience,
            validation_fraction=validation_fraction,
            max_cells=max_cells,
            seed=seed,
            device=device,
            n_threads=n_threads,
            selection=selection,
            validation_perturbations=validation_perturbations,
            predict_effect=predict_effect,
        )

    # -- training -----------------------------------------------------------------------------

    def _setup(self, data: TrainingData) -> None:
        sizes = {
            "n_latent": self.n_latent,
            "n_latent_attribute_categorical": self.n_latent_attribute_categorical,
            "n_latent_attribute_ordered": self.n_latent_attribute_ordered,
            "decoder_width": self.decoder_width,
            "attribute_nn_width": self.attribute_nn_width,
            "attribute_nn_depth": self.attribute_nn_depth,
        }
        bad = {k: v for k, v in sizes.items() if v < 1}
        if bad or self.decoder_depth < 0 or self.infer_steps < 0:
            raise ModelError(
                f"{self.name}: latent sizes, widths and attribute_nn_depth must be at least 1, "
                f"decoder_depth and infer_steps at least 0; got {bad or sizes}."
            )
        if self.unknown_attribute_noise < 0 or self.latent_lr <= 0 or self.infer_lr <= 0:
            raise ModelError(
                f"{self.name}: unknown_attribute_noise must be non-negative, latent_lr and "
                "infer_lr positive."
            )
        self.net_ = _BioLORDNet(
            data.x.shape[0],
            data.n_genes,
            data.n_contexts,
            data.n_features,
            self,
            n_cell_embedding=0 if data.cell_x is None else data.cell_x.shape[1],
        ).to(self.device)
        self.data_ = data
        net = self.net_
        self.optimiser_ = torch.optim.Adam(
            [
                {"params": net.latents.parameters(), "lr": self.latent_lr},
                {
                    "params": [
                        p for name, p in net.named_parameters() if not name.startswith("latents.")
                    ],
                    "lr": self.lr,
                },
            ],
            weight_decay=self.weight_decay,
        )
        # validation partners: a training control of each held-out cell's context (fixed draw)
        self.val_partners_ = data.random_controls(data.val_cells, self.generator_)
        self.val_has_partner_ = data.has_controls(data.val_cells)
        self._latent_cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def _training_step(self, batch: torch.Tensor, epoch: int) -> float:
        data, net = self.data_, self.net_
        z = net.latents(batch)
        if self.unknown_attribute_noise > 0:
            noise = torch.randn(z.shape, generator=self.generator_)
            z = z + self.unknown_attribute_noise * noise.to(z.device)
        attributes = net.attributes(
            data.covariates[batch],
            data.cell_features(batch),
            data.dose[batch],
            self._cells_of(batch),
        )
        mean, log_var = net.decode(z, attributes)
        reconstruction = reconstruction_loss(
            mean, log_var, data.x[batch], self.reconstruction_penalty
        ).mean()
        penalty = (z**2).sum(dim=1).mean()
        loss = reconstruction + self.unknown_attribute_penalty * penalty
        self.optimiser_.zero_grad()
        loss.backward()
        self.optimiser_.step()
        return float(loss.detach())

    def _validation_loss(self, cells: torch.Tensor) -> float:
        data, net = self.data_, self.net_
        if cells.numel() == self.val_partners_.numel() and torch.equal(cells, data.val_cells):
            partners, has = self.val_partners_, self.val_has_partner_
        else:  # other cells than the held-out ones: draw their partners now
            partners, has = data.random_controls(cells, self.generator_), data.has_controls(cells)
        z = net.latents(partners) * has.unsqueeze(1)
        attributes = net.attributes(
            data.covariates[cells],
            data.cell_features(cells),
            data.dose[cells],
            self._cells_of(partners),  # the partner control's embedding, as at prediction
        )
        mean, _ = net.decode(z, attributes)
        return float(((mean - data.x[cells]) ** 2).mean())

    def _cells_of(self, cells: torch.Tensor) -> torch.Tensor | None:
        """The cell embeddings of training ``cells`` (None without a ``cell_embedding_key``)."""
        embedding = self.data_.cell_x
        return None if embedding is None else embedding[cells].to(self.device)

    # -- prediction ---------------------------------------------------------------------------

    def infer_latents(
        self, x: torch.Tensor, covariates: torch.Tensor, cells: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The unknown latents of control cells ``x`` (log-normalised, cells × genes; ``cells``
        their embeddings with a ``cell_embedding_key``) of a context
        with covariate row(s) ``covariates``: minimise the training objective over ``z`` with the
        model frozen, from ``z = 0``, by ``infer_steps`` Adam steps (cosine-decayed rate)."""
        net = self.net_
        was_training = net.training
        net.eval()
        n = x.shape[0]
        covariates = covariates.expand(n, -1)
        z = torch.zeros(n, self.n_latent, device=x.device, requires_grad=True)
        optimiser = torch.optim.Adam([z], lr=self.infer_lr)
        with torch.enable_grad(), torch_threads(self.n_threads):
            for p in net.parameters():
                p.requires_grad_(False)
            try:
                attributes = net.attributes(
                    covariates,
                    torch.zeros(n, self.data_.n_features, device=x.device),
                    torch.zeros(n, device=x.device),
                    cells,
                ).detach()
                for step in range(self.infer_steps):
                    for group in optimiser.param_groups:
                        group["lr"] = (
                            self.infer_lr * 0.5 * (1 + math.cos(math.pi * step / self.infer_steps))
                        )
                    mean, log_var = net.decode(z, attributes)
                    loss = (
                        reconstruction_loss(mean, log_var, x, self.reconstruction_penalty)
                        + self.unknown_attribute_penalty * (z**2).sum(dim=1)
                    ).sum()
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
            finally:
                for p in net.parameters():
                    p.requires_grad_(True)
        net.train(was_training)
        return z.detach()

    def _query_latents(
        self, x0: torch.Tensor, covariates: torch.Tensor, cells: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``infer_latents`` of the query's control cells, cached for the conditions of a context
        (every condition of one context gets the same control cells)."""
        cache = self._latent_cache
        if (
            cache is not None
            and cache[0].shape == x0.shape
            and torch.equal(cache[0], x0)
            and torch.equal(cache[1], covariates)
        ):
            return cache[2]
        z = self.infer_latents(x0, covariates, cells)
        self._latent_cache = (x0, covariates, z)
        return z

    def _prepare_prediction(self, queries: Queries) -> None:
        self._latent_cache = None  # query latents depend on the weights

    def _predict_cells(self, x0: torch.Tensor, inputs: ConditionInputs) -> torch.Tensor:
        x0 = x0.to(self.device)
        n = x0.shape[0]
        covariates = inputs.covariates.to(self.device)
        cells = None if inputs.cell_x0 is None else inputs.cell_x0.to(self.device)
        z = self._query_latents(x0, covariates, cells)  # same controls, same embeddings
        attributes = self.net_.attributes(
            covariates.expand(n, -1),
            inputs.features.to(self.device).expand(n, -1),
            inputs.dose.to(self.device).expand(n),
            cells,
        )
        mean, _ = self.net_.decode(z, attributes)
        return mean
