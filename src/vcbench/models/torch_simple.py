"""The simple learned models of PerturBench (Wu et al. 2024), the seed paper's "linear models".

Needs the optional extra ``vcbench[torch]``. Notation: ``x₀`` a control cell of the condition's
context, ``f_p`` the perturbation's features (``PerturbationFeatures``: one-hot of the targets seen
in training, and/or the targets' representation: an embedding table, or by default the GO
embedding, Morgan fingerprints or the training PCA embedding, ``vcbench.knowledge.featurize``;
summed over the targets of a combination), ``k`` the one-hot of the context among the training contexts (zero for a new one).

- ``linear_additive``: ``ŷ = x₀ + m_k + A f_p`` (control expression plus a linear function of the
  perturbation features). ``m_k`` is fixed, not learned: the mean effect of context ``k``'s
  perturbed training cells (``perturbed_mean``'s effect; their cell-weighted mean over the training
  contexts for a new context), and ``A`` starts at zero. A learned bias would be confounded with
  the one-hot weights (every training cell has a target), which leaves the prediction for an
  unseen perturbation (``f_p = 0``) arbitrary; with ``m_k`` it is ``perturbed_mean``'s.
- ``latent_additive``: ``ŷ = dec(enc(x₀) + enc_p(f_p))``, an additive shift in the latent space of an
  autoencoder; ``enc``, ``enc_p`` and ``dec`` are multi-layer perceptrons.
- ``decoder_only``: ``ŷ = dec([k, f_p])``, no control input.

``latent_additive`` also takes ``cell_embedding_key`` (``vcbench.models.cell_inputs``): the encoder
reads the control cell's embedding ``e₀`` (its row of ``obsm[cell_embedding_key]``) in place of
``x₀``, ``ŷ = dec(enc(e₀) + enc_p(f_p))``, still over the genes.

The networks of ``latent_additive`` and ``decoder_only`` end in a softplus (as in PerturBench), in
training and prediction; ``linear_additive`` clips at 0 instead (PerturBench: softplus with a
learned bias; here the offset ``m_k`` is fixed, and ``softplus(0) = 0.69`` would turn every
unexpressed gene into an expressed one, which the scale check refuses on the demo), so that the
predicted log-normalised expression is non-negative (docs/validity.md).

Effects, not levels (``predict_effect``, ``latent_additive`` and ``decoder_only``; as
``vcbench.models.deep.common``): the effect form predicts the control plus the difference the
network makes between the perturbation and none (``f = 0``, the features of a control),
``max(0, x₀ + dec(enc(x₀) + enc_p(f_p)) − dec(enc(x₀) + enc_p(0)))`` for ``latent_additive``
(clipped at 0: the difference can be negative) and ``x̄₀ + dec([k, f_p]) − dec([k, 0])`` for
``decoder_only`` (shifted controls, clipped by ``predict_by_shift``); ``False`` is the plain
network output above; ``"auto"`` (default) lets selection choose (the plain form only when it
validates better by more than ``selection.FORM_MARGIN``), and is the plain form without selection.
``linear_additive`` is an effect form by construction (``x₀ + m_k + A f_p``): no form to choose.
(``decoder_only`` trains on perturbed cells only, so ``dec([k, 0])`` is an extrapolation.)

Training: every perturbed training cell is paired with a control cell of its context drawn at random
(anew each epoch), and the mean squared error between ``ŷ`` and the perturbed cell is minimised
with Adam in mini-batches, the learning rate decaying from ``lr`` to 0 along a cosine over the
epochs of the fit (so that the final weights are not dominated by mini-batch noise).

Selection (``selection="effect"``, default; ``vcbench.models.deep.selection``, as the deep
models): ``validation_perturbations`` (0.2) of the training perturbations (or contexts, per
``train.uns[contract.HELD_OUT_UNIT]``) are held out whole; a fit of ``n_epochs`` on the rest
predicts the held-out conditions after every epoch from their contexts' training controls (at most
``SELECTION_MAX_CELLS`` per context, one seeded subsample) in each scored form, and the epoch (and
form) with the best mean pdcorr of effects is selected, the training loss breaking ties within
``SCORE_TIE`` (there are no held-out cells of training conditions here; in practice the later
epoch). The model is then refitted on every training cell for ``epoch + 1`` epochs, its cosine
spanning those epochs (a full decay, not the first part of the ``n_epochs`` schedule), with the
same seed. ``selection_`` records it (``None`` without selection). With fewer than
``MIN_VALIDATION_CONDITIONS`` validation conditions, or ``selection="loss"``, there is no
selection: ``n_epochs`` on every training cell, as before. Selection costs two fits and one
prediction of the validation conditions per epoch.

Prediction: ``linear_additive`` and ``latent_additive`` map each query control cell (at most
``max_cells`` per condition, a seeded subsample); ``decoder_only`` predicts one mean per condition
and returns it as shifted query controls (``predict_by_shift``). All randomness
comes from ``seed`` (CPU results are reproducible; the global torch RNG is left untouched).
``n_threads`` sets torch's CPU threads during fit and predict (default 1: these networks are
small, and several threads on a shared CPU were up to 20 times slower; ``None``: torch's default).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar, Literal, Self

import anndata as ad
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.base import (
    PREDICTION_KEY,
    PerturbationModel,
    Queries,
    predict_by_shift,
    query_obs,
)
from vcbench.models.cell_inputs import cell_embedding
from vcbench.models.deep.selection import (
    SELECTION_MAX_CELLS,
    Selection,
    ValidationEffects,
    check_parameters,
    held_out_cells,
    scored_forms,
)
from vcbench.models.effects import TrainingEffects, query_control_means
from vcbench.models.embeddings import (
    EmbeddingSource,
    PerturbationFeatures,
    training_smiles,
)
from vcbench.models.torch_utils import dense_float32 as _dense
from vcbench.models.torch_utils import mlp
from vcbench.models.torch_utils import torch_threads as _threads


class _LinearAdditiveNet(nn.Module):
    def __init__(self, n_features: int, offsets: np.ndarray, overall: np.ndarray) -> None:
        super().__init__()
        self.shift = nn.Linear(n_features, offsets.shape[1], bias=False)
        nn.init.zeros_(self.shift.weight)
        self.register_buffer("offsets", torch.from_numpy(offsets.astype(np.float32)))
        self.register_buffer("overall", torch.from_numpy(overall.astype(np.float32)))

    def forward(self, x0: torch.Tensor, f: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        offset = k @ self.offsets + (1.0 - k.sum(dim=1, keepdim=True)) * self.overall
        return functional.relu(x0 + offset + self.shift(f))  # clipped at 0 (module docstring)


class _LatentAdditiveNet(nn.Module):
    def __init__(
        self,
        n_genes: int,
        n_features: int,
        hidden: int,
        latent_dim: int,
        n_layers: int,
        dropout: float,
        n_cell_inputs: int | None = None,
    ) -> None:
        super().__init__()
        self.encoder = mlp(n_cell_inputs or n_genes, hidden, latent_dim, n_layers, dropout)
        self.perturbation_encoder = mlp(n_features, hidden, latent_dim, n_layers, dropout)
        self.decoder = mlp(latent_dim, hidden, n_genes, n_layers, dropout)

    def forward(self, x0: torch.Tensor, f: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return functional.softplus(self.decoder(self.encoder(x0) + self.perturbation_encoder(f)))


class _DecoderOnlyNet(nn.Module):
    def __init__(
        self,
        n_genes: int,
        n_features: int,
        n_covariates: int,
        hidden: int,
        n_layers: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.decoder = mlp(n_covariates + n_features, hidden, n_genes, n_layers, dropout)

    def forward(self, x0: torch.Tensor, f: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return functional.softplus(self.decoder(torch.cat([k, f], dim=1)))


class _TorchModel(PerturbationModel):
    """Shared training and prediction of the PerturBench-style models (see the module docstring)."""

    uses_controls: ClassVar[bool] = True
    # the network's output is already control + effect (linear_additive): no form to choose
    effect_by_construction: ClassVar[bool] = False

    featurised = True  # the one-hot applicability rule (PerturbationModel.not_applicable)

    def _init_common(
        self,
        features: Literal["onehot", "embedding", "onehot+embedding"],
        embedding: EmbeddingSource | None,
        n_components: int,
        n_epochs: int,
        batch_size: int,
        lr: float,
        weight_decay: float,
        max_cells: int | None,
        seed: int,
        device: str,
        n_threads: int | None,
        selection: Literal["effect", "loss"] = "effect",
        validation_perturbations: float = 0.2,
        predict_effect: bool | Literal["auto"] = "auto",
    ) -> None:
        self.selection = selection
        self.validation_perturbations = validation_perturbations
        if not self.effect_by_construction:
            self.predict_effect = predict_effect
        self.features = features
        self.embedding = embedding
        self.n_components = n_components
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_cells = max_cells
        self.seed = seed
        self.device = device
        self.n_threads = n_threads

    @abstractmethod
    def _build(self, n_genes: int, n_features: int, n_covariates: int) -> nn.Module:
        """The network of the model."""

    def _forms(self) -> tuple[str, ...]:
        """The prediction forms scored in selection (``linear_additive``'s network is an effect
        form: it has no other)."""
        if self.effect_by_construction:
            return ("effect",)
        return scored_forms(self.predict_effect)

    def fit(self, train: ad.AnnData) -> Self:
        if self.n_epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ModelError(
                f"{self.name}: n_epochs and batch_size must be at least 1 and lr positive."
            )
        check_parameters(
            self.name,
            self.selection,
            self.validation_perturbations,
            True if self.effect_by_construction else self.predict_effect,
        )
        held = None
        if self.selection == "effect":
            unit = str(train.uns.get(c.HELD_OUT_UNIT, "perturbation"))
            held = held_out_cells(train.obs, unit, self.validation_perturbations, self.seed)
        self.selection_: Selection | None = None
        # without selection "auto" is the plain form, the original architectures' output
        self.effect_form_ = self.effect_by_construction or self.predict_effect is True
        if held is None:
            self._fit_epochs(train, self.n_epochs)
            return self
        unit, labels, mask = held
        kept = train[~mask]
        target = ValidationEffects.from_cells(train[mask], kept)
        record = Selection(unit, labels, target.conditions)
        self._fit_epochs(kept, self.n_epochs, validation=(record, target, kept))
        record.select()
        self.selection_ = record
        self.effect_form_ = self.effect_by_construction or record.form == "effect"
        self._fit_epochs(train, record.epoch + 1)  # the refit, its cosine over these epochs
        return self

    def _fit_epochs(
        self,
        train: ad.AnnData,
        n_epochs: int,
        validation: tuple[Selection, ValidationEffects, ad.AnnData] | None = None,
    ) -> None:
        """Fit the features and a fresh network on ``train`` for ``n_epochs``, the learning rate
        decaying to 0 along a cosine over them; with ``validation`` (the record, the held-out
        effects and the training cells whose controls predict them), score every epoch."""
        obs = train.obs
        is_control = obs[c.IS_CONTROL].to_numpy(dtype=bool)
        context = obs[c.CONTEXT].astype(str).to_numpy()
        self.genes_ = train.var_names.copy()
        self.contexts_ = sorted(set(context[~is_control]))
        if not self.contexts_:
            raise ModelError(
                f"{self.name} needs perturbed training cells; the training set has none."
            )
        needs_effects = self.uses_controls or (self.features != "onehot" and self.embedding is None)
        effects = TrainingEffects.from_train(train, model=self.name) if needs_effects else None
        self.train_effects_ = effects
        labels = obs[c.PERTURBATION].astype(str).to_numpy()
        unique_labels, codes = np.unique(labels[~is_control], return_inverse=True)
        targets = [c.split_combination(p) for p in unique_labels]
        self.features_ = PerturbationFeatures(self.features, self.embedding, self.n_components).fit(
            targets,
            None if effects is None else effects.effects,
            self.genes_,
            smiles=training_smiles(train),
        )
        feature_table = self.features_.transform(targets)

        embedding = self._cell_embedding(train)  # the cell input, None: expression
        self.n_cell_inputs_ = len(self.genes_) if embedding is None else embedding.shape[1]
        cells = np.flatnonzero(~is_control)
        cell_codes = codes
        control_cells = np.flatnonzero(is_control)
        if self.uses_controls:
            with_controls = np.isin(context[cells], context[control_cells])
            if not with_controls.any():
                raise ModelError(
                    f"{self.name} pairs perturbed cells with control cells of their context; no "
                    "training context has both."
                )
            cells, cell_codes = cells[with_controls], cell_codes[with_controls]
        # The controls sorted by context; the controls of context i are
        # ctrl_order[starts[i] : starts[i] + counts[i]].
        ctx_labels, ctx_codes = np.unique(context, return_inverse=True)
        ctrl_order = control_cells[np.argsort(ctx_codes[control_cells], kind="stable")]
        ctrl_counts = np.bincount(ctx_codes[control_cells], minlength=ctx_labels.size)
        ctrl_starts = np.concatenate([[0], np.cumsum(ctrl_counts)[:-1]])
        starts = torch.from_numpy(ctrl_starts[ctx_codes[cells]])
        counts = torch.from_numpy(ctrl_counts[ctx_codes[cells]])
        if validation is not None:
            record, target, kept = validation
            queries = self._validation_queries(target, kept)

        with torch.random.fork_rng(devices=[]), _threads(self.n_threads):
            torch.manual_seed(self.seed)
            generator = torch.Generator().manual_seed(self.seed)
            net = self._build(len(self.genes_), self.features_.n_features, len(self.contexts_))
            net = net.to(self.device)
            self.net_ = net
            x_t = torch.from_numpy(_dense(train.X)).to(self.device)
            in_t = x_t if embedding is None else torch.from_numpy(embedding).to(self.device)
            f_t = torch.from_numpy(feature_table.astype(np.float32)).to(self.device)
            k_t = torch.from_numpy(self._covariates(context).astype(np.float32)).to(self.device)
            cells_t = torch.from_numpy(cells)
            codes_t = torch.from_numpy(cell_codes.astype(np.int64))
            order_t = torch.from_numpy(ctrl_order)
            optimiser = torch.optim.Adam(
                net.parameters(), lr=self.lr, weight_decay=self.weight_decay
            )
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=n_epochs)
            self.losses_: list[float] = []
            for _ in range(n_epochs):
                net.train()
                if self.uses_controls:  # a random control of the same context for every cell
                    draw = torch.rand(cells.size, generator=generator, dtype=torch.float64)
                    offset = torch.minimum((draw * counts).long(), counts - 1)
                    partner = order_t[starts + offset]
                else:
                    partner = cells_t
                permutation = torch.randperm(cells.size, generator=generator)
                total = 0.0
                for batch in permutation.split(self.batch_size):
                    target_x = x_t[cells_t[batch]]
                    output = net(in_t[partner[batch]], f_t[codes_t[batch]], k_t[cells_t[batch]])
                    loss = torch.mean((output - target_x) ** 2)
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    total += float(loss.detach()) * batch.numel()
                self.losses_.append(total / cells.size)
                schedule.step()
                if validation is not None:  # eval mode, no randomness: training's stream untouched
                    net.eval()
                    scores = {
                        form: target.score(
                            self._predict(
                                queries, max_cells=SELECTION_MAX_CELLS, effect=form == "effect"
                            )
                        )
                        for form in self._forms()
                    }
                    # no held-out cells of training conditions here: the training loss breaks ties
                    record.add(scores, self.losses_[-1], self.losses_[-1])
        net.eval()

    def _validation_queries(self, target: ValidationEffects, kept: ad.AnnData) -> Queries:
        """The validation conditions with at most ``SELECTION_MAX_CELLS`` training controls of
        each context (a seeded subsample, drawn once: every epoch predicts the same cells)."""
        is_control = kept.obs[c.IS_CONTROL].to_numpy(dtype=bool)
        context = kept.obs[c.CONTEXT].astype(str).to_numpy()
        wanted = set(target.conditions[c.CONTEXT].astype(str))
        rng = np.random.default_rng(self.seed)
        rows = []
        for k in sorted(wanted):
            cells = np.flatnonzero(is_control & (context == k))
            if cells.size > SELECTION_MAX_CELLS:
                cells = np.sort(rng.choice(cells, SELECTION_MAX_CELLS, replace=False))
            rows.append(cells)
        controls = kept[np.concatenate(rows)].copy()
        controls.X = _dense(controls.X)
        return Queries(target.conditions, controls)

    def _cell_embedding(self, cells: ad.AnnData, width: int | None = None) -> np.ndarray | None:
        """``obsm[cell_embedding_key]`` of ``cells`` (None for a model without the key), of
        ``width`` columns when given."""
        key = getattr(self, "cell_embedding_key", None)
        return None if key is None else cell_embedding(cells, key, self.name, width)

    def _covariates(self, contexts: np.ndarray | list[str]) -> np.ndarray:
        """One-hot of each context among the training contexts (zeros for a new context)."""
        index = {k: i for i, k in enumerate(self.contexts_)}
        out = np.zeros((len(contexts), len(index)))
        for row, k in enumerate(contexts):
            if k in index:
                out[row, index[k]] = 1.0
        return out

    def _condition_inputs(self, conditions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Perturbation features and context covariates of each row of ``conditions``."""
        targets = [c.split_combination(p) for p in conditions[c.PERTURBATION].astype(str)]
        f = self.features_.transform(targets).astype(np.float32)
        k = self._covariates(conditions[c.CONTEXT].astype(str).tolist()).astype(np.float32)
        return f, k

    def _forward(self, x0: np.ndarray, f: np.ndarray, k: np.ndarray) -> np.ndarray:
        """The network's output; ``f`` and ``k`` have one row per row of ``x0``, or one row."""
        n = x0.shape[0]
        with torch.no_grad():
            out = self.net_(
                torch.from_numpy(x0).to(self.device),
                torch.from_numpy(f).to(self.device).expand(n, -1),
                torch.from_numpy(k).to(self.device).expand(n, -1),
            )
        return out.cpu().numpy()

    def predict(self, queries: Queries) -> ad.AnnData:
        with _threads(self.n_threads):
            return self._predict(queries)

    def _predict(
        self, queries: Queries, max_cells: int | None = None, effect: bool | None = None
    ) -> ad.AnnData:
        """Predicted cells of every query condition (at most ``max_cells`` control cells per
        condition, default the model's ``max_cells``), in the effect form or not (default: the
        fitted ``effect_form_``; module docstring)."""
        effect = self.effect_form_ if effect is None else effect
        subtract = effect and not self.effect_by_construction  # minus the unperturbed output
        max_cells = (
            self.max_cells if max_cells is None else min(max_cells, self.max_cells or max_cells)
        )
        conditions = queries.conditions.reset_index(drop=True)
        control_means = query_control_means(queries, self.genes_)  # errors on missing controls
        features, covariates = self._condition_inputs(conditions)
        if not self.uses_controls:
            x0 = control_means.astype(np.float32)
            output = self._forward(x0, features, covariates)
            if subtract:  # dec([k, f]) − dec([k, 0])
                effects = output - self._forward(x0, np.zeros_like(features), covariates)
            else:
                effects = output - control_means
            return predict_by_shift(
                queries, effects, pd.Index(self.genes_), max_cells=max_cells, seed=self.seed
            )
        rng = np.random.default_rng(self.seed)
        blocks = [np.zeros((0, len(self.genes_)), dtype=np.float32)]
        obs_blocks = [pd.DataFrame({c.CONTEXT: [], c.PERTURBATION: []}, dtype=str)]
        no_perturbation = np.zeros((1, features.shape[1]), dtype=np.float32)
        groups = conditions.groupby(c.CONTEXT, observed=True, sort=False).groups
        for context, rows in groups.items():
            controls = queries.controls_of(str(context))
            x0 = _dense(controls[:, self.genes_].X)
            embedding = self._cell_embedding(controls, self.n_cell_inputs_)
            kept = np.arange(x0.shape[0])
            if max_cells is not None and x0.shape[0] > max_cells:
                kept = np.sort(rng.choice(x0.shape[0], max_cells, replace=False))
                x0 = x0[kept]
            cell_input = x0 if embedding is None else embedding[kept]
            unperturbed = None  # the network's output for x0 without a perturbation
            for row in rows:
                cells = self._forward(cell_input, features[[row]], covariates[[row]])
                if subtract:
                    if unperturbed is None:
                        unperturbed = self._forward(cell_input, no_perturbation, covariates[[row]])
                    cells = np.maximum(x0 + cells - unperturbed, 0.0)  # clipped at 0
                blocks.append(cells)
                obs_blocks.append(query_obs(conditions, row, x0.shape[0]))
        obs = pd.concat(obs_blocks, ignore_index=True)
        obs.index = obs.index.astype(str)
        prediction = ad.AnnData(X=np.vstack(blocks), obs=obs, var=pd.DataFrame(index=self.genes_))
        prediction.uns[PREDICTION_KEY] = {
            "level": "cells",
            "method": f"{self.name} applied to each query control cell",
        }
        return prediction


class LinearAdditive(_TorchModel):
    """``ŷ = x₀ + m_k + A f_p`` (PerturBench's linear additive model; module docstring)."""

    name = "linear_additive"
    effect_by_construction = True

    def __init__(
        self,
        features: Literal["onehot", "embedding", "onehot+embedding"] = "onehot",
        embedding: EmbeddingSource | None = None,
        n_components: int = 10,
        n_epochs: int = 100,
        batch_size: int = 128,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
        max_cells: int | None = 500,
        seed: int = 0,
        device: str = "cpu",
        n_threads: int | None = 1,
        selection: Literal["effect", "loss"] = "effect",
        validation_perturbations: float = 0.2,
    ) -> None:
        self._init_common(
            features,
            embedding,
            n_components,
            n_epochs,
            batch_size,
            lr,
            weight_decay,
            max_cells,
            seed,
            device,
            n_threads,
            selection,
            validation_perturbations,
        )

    def _build(self, n_genes: int, n_features: int, n_covariates: int) -> nn.Module:
        effects = self.train_effects_
        assert effects is not None  # computed in fit: linear_additive uses controls
        shifts = {
            k: effects.perturbed_means[k] - effects.control_means[k]
            for k in self.contexts_
            if k in effects.control_means
        }
        offsets = np.vstack([shifts.get(k, np.zeros(n_genes)) for k in self.contexts_])
        weights = np.array(
            [
                effects.conditions.loc[effects.conditions[c.CONTEXT] == k, "n_cells"].sum()
                for k in shifts
            ]
        )
        overall = np.average(np.vstack(list(shifts.values())), axis=0, weights=weights)
        return _LinearAdditiveNet(n_features, offsets, overall)


class LatentAdditive(_TorchModel):
    """``ŷ = dec(enc(x₀) + enc_p(f_p))`` (PerturBench's latent additive model; module docstring).

    ``hidden`` units in each of ``n_layers`` hidden layers of every MLP, latent size ``latent_dim``;
    ``cell_embedding_key``: an ``obsm`` key, the encoder's cell input (None: expression).
    """

    name = "latent_additive"

    def __init__(
        self,
        hidden: int = 256,
        latent_dim: int = 64,
        n_layers: int = 1,
        dropout: float = 0.0,
        cell_embedding_key: str | None = None,
        features: Literal["onehot", "embedding", "onehot+embedding"] = "onehot",
        embedding: EmbeddingSource | None = None,
        n_components: int = 10,
        n_epochs: int = 100,
        batch_size: int = 128,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        max_cells: int | None = 500,
        seed: int = 0,
        device: str = "cpu",
        n_threads: int | None = 1,
        selection: Literal["effect", "loss"] = "effect",
        validation_perturbations: float = 0.2,
        predict_effect: bool | Literal["auto"] = "auto",
    ) -> None:
        self.cell_embedding_key = cell_embedding_key
        self.hidden = hidden
        self.latent_dim = latent_dim
        self.n_layers = n_layers
        self.dropout = dropout
        self._init_common(
            features,
            embedding,
            n_components,
            n_epochs,
            batch_size,
            lr,
            weight_decay,
            max_cells,
            seed,
            device,
            n_threads,
            selection,
            validation_perturbations,
            predict_effect,
        )

    def _build(self, n_genes: int, n_features: int, n_covariates: int) -> nn.Module:
        return _LatentAdditiveNet(
            n_genes,
            n_features,
            self.hidden,
            self.latent_dim,
            self.n_layers,
            self.dropout,
            n_cell_inputs=self.n_cell_inputs_,
        )


class DecoderOnly(_TorchModel):
    """``ŷ = dec([k, f_p])`` without control input (PerturBench's decoder-only model; module
    docstring); its one mean per condition is returned as shifted query controls."""

    name = "decoder_only"
    uses_controls = False

    def __init__(
        self,
        hidden: int = 256,
        n_layers: int = 1,
        dropout: float = 0.0,
        features: Literal["onehot", "embedding", "onehot+embedding"] = "onehot",
        embedding: EmbeddingSource | None = None,
        n_components: int = 10,
        n_epochs: int = 100,
        batch_size: int = 128,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        max_cells: int | None = 500,
        seed: int = 0,
        device: str = "cpu",
        n_threads: int | None = 1,
        selection: Literal["effect", "loss"] = "effect",
        validation_perturbations: float = 0.2,
        predict_effect: bool | Literal["auto"] = "auto",
    ) -> None:
        self.hidden = hidden
        self.n_layers = n_layers
        self.dropout = dropout
        self._init_common(
            features,
            embedding,
            n_components,
            n_epochs,
            batch_size,
            lr,
            weight_decay,
            max_cells,
            seed,
            device,
            n_threads,
            selection,
            validation_perturbations,
            predict_effect,
        )

    def _build(self, n_genes: int, n_features: int, n_covariates: int) -> nn.Module:
        return _DecoderOnlyNet(
            n_genes, n_features, n_covariates, self.hidden, self.n_layers, self.dropout
        )
