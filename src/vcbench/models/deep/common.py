"""What the deep models share: training tensors, the training loop with early stopping, and
cell-level prediction from the query's control cells.

A deep model subclasses ``DeepModel`` and implements four methods:

- ``_setup(data)``: build its networks (an ``nn.Module`` assigned to ``self.net_``) and optimisers
  from the ``TrainingData``;
- ``_training_step(batch, epoch) -> float``: one optimisation step on the training cells ``batch``
  (a tensor of row indices into ``data.x``), returning the loss to record;
- ``_validation_loss(cells) -> float``: the loss on held-out cells, without gradients (early
  stopping monitors it);
- ``_predict_cells(x0, inputs) -> np.ndarray``: predicted cells (rows) of one query condition, from
  ``x0``, control cells of its context (at most ``max_cells``, a seeded subsample).

Shared definitions:

- Perturbation features ``f_p`` (``vcbench.models.embeddings.PerturbationFeatures``): one-hot of the
  targets seen in training and/or the targets' representation (``vcbench.knowledge.featurize``: a
  user-supplied table of gene or compound embeddings, or, by default, a gene's GO embedding, a
  compound's Morgan fingerprint, else the training PCA embedding of the ``linear`` baseline),
  summed over the targets of a combination. The default ``"onehot+embedding"`` lets a
  model learn seen perturbations freely and still place unseen ones through the embedding. Control
  cells have the zero feature vector.
- Cell input: what a network encodes as a cell, its expression ``x`` by default, or, with the
  model parameter ``cell_embedding_key``, the cell's row of ``obsm[cell_embedding_key]``
  (``vcbench.models.cell_inputs``; ``TrainingData.cell_input``, ``ConditionInputs.cell_input``).
  The prediction stays expression over the training genes.
- Context covariate ``k``: the one-hot of the cell's context among the training contexts (the zero
  vector for a context not seen in training).
- Dose ``d``: ``vcb_dose`` as a number when the data has doses (``log10(1 + dose)``, the usual
  scale of CPA's dose-response input), else 1 for perturbed cells; 0 for controls.
- Model selection (``selection="effect"``, the default; ``vcbench.models.deep.selection``):
  counterfactual validation. ``validation_perturbations`` of the training perturbations (or, in an
  unseen-context scenario, of the training contexts) are held out whole; the model trains on the
  rest and after every epoch predicts the held-out conditions from their contexts' training
  controls. The epoch whose mean pdcorr of predicted vs observed effects is best (the validation
  loss breaking ties) is selected; training stops after ``patience`` epochs without a better
  score. The model is then **refitted on every training cell** for the selected number of epochs
  (the held-out conditions are training data too), with the same seed; a model with
  ``refit_after_selection = False`` (``gears`` and ``sclambda``, as their originals keep their
  best validation epoch) keeps the selected epoch's weights instead. ``selection_`` records the
  held-out labels, each epoch's score and the choice. With fewer than ``MIN_VALIDATION_CONDITIONS`` (8) validation
  conditions (or ``selection="loss"``) selection falls back to the validation loss.
- Validation loss: on ``validation_fraction`` of the cells of each training condition (controls
  included; conditions with fewer than 10 cells keep them all), drawn with ``seed``. It breaks
  ties of the effect score; with ``selection="loss"`` training stops after ``patience`` epochs
  without improvement and the weights of the best epoch are restored.
- Effects, not levels: with ``predict_effect=True`` a query cell is predicted as
  ``x0 + f(x0, p) − f(x0, ∅)``, its control expression plus the difference the model makes
  between the perturbation and none, so that a reconstruction error or a decoder bias
  (``f(x0, ∅) ≠ x0``) cannot appear as a constant effect; with ``False`` it is ``f(x0, p)``. The
  default ``"auto"`` lets counterfactual validation choose (``selection.FORM_MARGIN``: the plain
  form only when it predicts the held-out perturbations clearly better); without counterfactual
  selection (too few training perturbations, or ``selection="loss"``) it is the plain form, the
  original architectures' output. ``effect_form_`` is the form chosen.
- Determinism: all randomness comes from ``seed`` (``torch.random.fork_rng`` keeps the global
  generator untouched); on CPU two fits with the same data and parameters predict identical values.
"""

from __future__ import annotations

import copy
import dataclasses
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

import anndata as ad
import numpy as np
import pandas as pd
import torch

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.base import PREDICTION_KEY, PerturbationModel, Queries, query_obs
from vcbench.models.cell_inputs import cell_embedding
from vcbench.models.deep.selection import (
    SELECTION_MAX_CELLS,
    Selection,
    ValidationEffects,
    check_parameters,
    held_out_cells,
    scored_forms,
)
from vcbench.models.effects import TrainingEffects, query_control_means, training_control_mask
from vcbench.models.embeddings import (
    EmbeddingSource,
    PerturbationFeatures,
    training_smiles,
)
from vcbench.models.torch_utils import dense_float32, torch_threads

FeatureKind = Literal["onehot", "embedding", "onehot+embedding"]
SelectionKind = Literal["effect", "loss"]
MIN_CELLS_FOR_VALIDATION = 10


def dose_values(obs: pd.DataFrame, is_control: np.ndarray) -> np.ndarray:
    """Each cell's dose input: ``log10(1 + vcb_dose)`` when the data has numeric doses, else 1;
    0 for control cells."""
    dose = np.ones(len(obs))
    if c.DOSE in obs.columns:
        numeric = pd.to_numeric(obs[c.DOSE].astype(str), errors="coerce").to_numpy(dtype=float)
        if np.isfinite(numeric[~is_control]).all():
            dose = np.log10(1.0 + np.clip(numeric, 0.0, None))
    dose[is_control] = 0.0
    return np.nan_to_num(dose).astype(np.float32)


@dataclass
class TrainingData:
    """The training cells as tensors (row ``i`` is cell ``i`` of ``train``).

    Attributes:
        x: log-normalised expression (cells × genes).
        counts: raw counts of the same genes (``layers["counts"]``), or None when the data has none.
        library: each cell's total raw count over all measured genes (None without counts).
        is_control: whether each cell is a control cell.
        context: each cell's context index into ``contexts`` (every training context).
        covariates: one-hot of each cell's context (cells × contexts).
        condition: each cell's index into ``features`` (controls: the last row, all zero).
        features: perturbation features (training perturbations + 1 zero row × features).
        dose: each cell's dose input (see the module docstring).
        train_cells, val_cells: row indices of the cells trained on and held out for validation.
        labels: the training perturbation labels, in the order of ``features``' rows.
        contexts: the training contexts.
        cell_x: the cells' embedding (cells × dimensions) when the model has a
            ``cell_embedding_key``, else None (the cell input is ``x``).
    """

    x: torch.Tensor
    counts: torch.Tensor | None
    library: torch.Tensor | None
    is_control: torch.Tensor
    context: torch.Tensor
    covariates: torch.Tensor
    condition: torch.Tensor
    features: torch.Tensor
    dose: torch.Tensor
    train_cells: torch.Tensor
    val_cells: torch.Tensor
    labels: list[str]
    contexts: list[str]
    cell_x: torch.Tensor | None = None

    @property
    def n_genes(self) -> int:
        return self.x.shape[1]

    @property
    def cell_input(self) -> torch.Tensor:
        """Every cell's cell input: its embedding with a ``cell_embedding_key``, else ``x``."""
        return self.x if self.cell_x is None else self.cell_x

    @property
    def n_cell_inputs(self) -> int:
        """The width of the cell input (genes, or the embedding's dimensions)."""
        return self.cell_input.shape[1]

    @property
    def n_features(self) -> int:
        return self.features.shape[1]

    @property
    def n_contexts(self) -> int:
        return len(self.contexts)

    @property
    def n_perturbations(self) -> int:
        """The number of training perturbations (rows of ``features`` without the control row)."""
        return len(self.labels)

    def cell_features(self, cells: torch.Tensor) -> torch.Tensor:
        """The perturbation features of ``cells`` (zero for controls)."""
        return self.features[self.condition[cells]]

    def random_controls(self, cells: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """For each of ``cells``, a training control cell of the same context drawn at random
        (the cell itself when its context has no training controls; see ``has_controls``)."""
        starts = self._ctrl_starts[self.context[cells]]
        counts = self._ctrl_counts[self.context[cells]]
        draw = torch.rand(cells.numel(), generator=generator, dtype=torch.float64)
        offset = torch.minimum((draw * counts).long(), (counts - 1).clamp(min=0))
        partner = self._ctrl_order[(starts + offset).clamp(max=max(len(self._ctrl_order) - 1, 0))]
        return torch.where(counts > 0, partner, cells)

    def has_controls(self, cells: torch.Tensor) -> torch.Tensor:
        """Whether the context of each of ``cells`` has training control cells."""
        return self._ctrl_counts[self.context[cells]] > 0

    def _index_controls(self) -> None:
        controls = self.train_cells[self.is_control[self.train_cells]]
        order = controls[torch.argsort(self.context[controls], stable=True)]
        counts = torch.bincount(self.context[controls], minlength=self.n_contexts)
        self._ctrl_order = order
        self._ctrl_counts = counts
        self._ctrl_starts = torch.cumsum(counts, 0) - counts


def validation_split(
    groups: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, validation): ``fraction`` of each group's rows (groups with fewer than
    ``MIN_CELLS_FOR_VALIDATION`` rows stay in train), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    held = np.zeros(groups.size, dtype=bool)
    if fraction > 0:
        _, codes = np.unique(groups, return_inverse=True)
        for code in range(codes.max() + 1):
            rows = np.flatnonzero(codes == code)
            if rows.size >= MIN_CELLS_FOR_VALIDATION:
                n = max(1, round(fraction * rows.size))
                held[rng.choice(rows, n, replace=False)] = True
    return np.flatnonzero(~held), np.flatnonzero(held)


@dataclass(frozen=True)
class ConditionInputs:
    """The inputs of one query condition (tensors with one row)."""

    context: str
    perturbation: str
    features: torch.Tensor
    covariates: torch.Tensor
    dose: torch.Tensor
    seen_context: bool
    cell_x0: torch.Tensor | None = None  # the control cells' embedding (cell_embedding_key)

    def cell_input(self, x0: torch.Tensor) -> torch.Tensor:
        """The cell input of the control cells ``x0``: their embedding, else ``x0``."""
        return x0 if self.cell_x0 is None else self.cell_x0


class DeepModel(PerturbationModel):
    """Base class of the deep models (see the module docstring for the shared definitions).

    Common parameters: ``features``, ``embedding``, ``n_components`` (perturbation features);
    ``n_epochs`` (at most), ``batch_size``, ``lr``, ``weight_decay``; ``selection`` (``"effect"``:
    counterfactual validation then a refit; ``"loss"``: the validation loss) with
    ``validation_perturbations`` (the share held out); ``predict_effect`` (True: predict
    ``x0 + f(x0, p) − f(x0, ∅)``, the control plus the model's effect; False: ``f(x0, p)``;
    ``"auto"``: chosen by counterfactual validation); ``patience`` (epochs without validation
    improvement before stopping; None: never stop early) and ``validation_fraction``;
    ``max_cells`` (control cells per predicted condition); ``seed``; ``device``; ``n_threads``
    (torch CPU threads during fit and predict, None: torch's default).
    """

    needs_counts: ClassVar[bool] = False
    # after counterfactual selection: refit on every training cell for the selected epochs (True),
    # or keep the selected epoch's weights, trained without the held-out conditions (False)
    refit_after_selection: ClassVar[bool] = True

    featurised = True  # the one-hot applicability rule (PerturbationModel.not_applicable)

    def _init_common(
        self,
        *,
        features: FeatureKind,
        embedding: EmbeddingSource | None,
        n_components: int,
        n_epochs: int,
        batch_size: int,
        lr: float,
        weight_decay: float,
        patience: int | None,
        validation_fraction: float,
        max_cells: int | None,
        seed: int,
        device: str,
        n_threads: int | None,
        selection: SelectionKind = "effect",
        validation_perturbations: float = 0.2,
        predict_effect: bool | Literal["auto"] = "auto",
    ) -> None:
        self.predict_effect = predict_effect
        self.selection = selection
        self.validation_perturbations = validation_perturbations
        self.features = features
        self.embedding = embedding
        self.n_components = n_components
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.max_cells = max_cells
        self.seed = seed
        self.device = device
        self.n_threads = n_threads

    # -- to implement -------------------------------------------------------------------------

    @abstractmethod
    def _setup(self, data: TrainingData) -> None:
        """Build ``self.net_`` (every trained parameter) and the optimisers."""

    @abstractmethod
    def _training_step(self, batch: torch.Tensor, epoch: int) -> float:
        """One optimisation step on the training cells ``batch``; the loss to record."""

    @abstractmethod
    def _validation_loss(self, cells: torch.Tensor) -> float:
        """The loss on ``cells`` (held-out training cells), computed without gradients."""

    @abstractmethod
    def _predict_cells(self, x0: torch.Tensor, inputs: ConditionInputs) -> torch.Tensor:
        """Predicted log-normalised cells of one condition from control cells ``x0``."""

    def _prepare_prediction(self, queries: Queries) -> None:
        """Called before each prediction of ``queries`` (selection predicts after every epoch):
        refresh anything that depends on the current weights. Nothing by default."""

    # -- shared -------------------------------------------------------------------------------

    def fit(self, train: ad.AnnData) -> Self:
        if self.n_epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ModelError(
                f"{self.name}: n_epochs and batch_size must be at least 1 and lr positive."
            )
        if not 0 <= self.validation_fraction < 1:
            raise ModelError(
                f"{self.name}: validation_fraction must be in [0, 1), got "
                f"{self.validation_fraction}."
            )
        check_parameters(
            self.name, self.selection, self.validation_perturbations, self.predict_effect
        )
        held = None
        if self.selection == "effect":
            unit = str(train.uns.get(c.HELD_OUT_UNIT, "perturbation"))
            held = held_out_cells(train.obs, unit, self.validation_perturbations, self.seed)
        with torch.random.fork_rng(devices=[]), torch_threads(self.n_threads):
            self.selection_ = None
            self.effect_form_ = self.predict_effect is True  # "auto": decided by selection
            if held is not None:
                unit, labels, mask = held
                kept = train[~mask]
                target = ValidationEffects.from_cells(train[mask], kept)
                selection = Selection(
                    unit, labels, target.conditions, refit=self.refit_after_selection
                )
                self._start(kept)
                self._train(selection=(selection, target, kept))
                self.selection_ = selection
                self.effect_form_ = selection.form == "effect"
                if self.refit_after_selection:
                    self._start(train)
                    self._train(epochs=selection.epoch + 1)
            else:
                self._start(train)
                self._train()
        self.net_.eval()
        return self

    def _start(self, train: ad.AnnData) -> None:
        """Seed, build the training tensors of ``train`` and fresh networks."""
        torch.manual_seed(self.seed)
        self.generator_ = torch.Generator().manual_seed(self.seed)
        self.data_ = self._training_data(train)
        self._setup(self.data_)

    def _training_data(self, train: ad.AnnData) -> TrainingData:
        obs = train.obs
        is_control = training_control_mask(train, self.name)
        context = obs[c.CONTEXT].astype(str).to_numpy()
        labels = obs[c.PERTURBATION].astype(str).to_numpy()
        self.genes_ = train.var_names.copy()
        self.contexts_ = sorted(set(context))

        unique, codes = np.unique(labels[~is_control], return_inverse=True)
        targets = [c.split_combination(p) for p in unique]
        needs_effects = self.features != "onehot" and self.embedding is None
        effects = (
            TrainingEffects.from_train(train, model=self.name).effects if needs_effects else None
        )
        self.features_ = PerturbationFeatures(self.features, self.embedding, self.n_components).fit(
            targets, effects, self.genes_, smiles=training_smiles(train)
        )
        table = self.features_.transform(targets)
        table = np.vstack([table, np.zeros((1, table.shape[1]))])  # last row: controls
        condition = np.full(len(obs), len(unique), dtype=np.int64)
        condition[~is_control] = codes

        counts = library = None
        if self.needs_counts:
            if "counts" not in train.layers:
                raise ModelError(
                    f"{self.name} with a count likelihood needs raw counts in layers['counts']; "
                    "load the data from raw counts (vcbench.data.load_dataset keeps them) or use "
                    "the Gaussian likelihood."
                )
            counts = torch.from_numpy(dense_float32(train[:, self.genes_].layers["counts"]))
            library = counts.sum(dim=1).clamp(min=1.0)

        groups = np.char.add(np.char.add(context.astype(str), "\x1f"), labels.astype(str))
        train_rows, val_rows = validation_split(groups, self.validation_fraction, self.seed)
        context_codes = np.searchsorted(np.array(self.contexts_), context)
        covariates = np.eye(len(self.contexts_), dtype=np.float32)[context_codes]
        data = TrainingData(
            x=torch.from_numpy(dense_float32(train.X)),
            counts=counts,
            library=library,
            is_control=torch.from_numpy(is_control),
            context=torch.from_numpy(context_codes.astype(np.int64)),
            covariates=torch.from_numpy(covariates),
            condition=torch.from_numpy(condition),
            features=torch.from_numpy(table.astype(np.float32)),
            dose=torch.from_numpy(dose_values(obs, is_control)),
            train_cells=torch.from_numpy(train_rows.astype(np.int64)),
            val_cells=torch.from_numpy(val_rows.astype(np.int64)),
            labels=unique.tolist(),
            contexts=list(self.contexts_),
        )
        data._index_controls()
        data.cell_x = self._cell_embedding(train, training=True)
        return data

    def _cell_embedding(self, cells: ad.AnnData, training: bool = False) -> torch.Tensor | None:
        """``obsm[cell_embedding_key]`` of ``cells`` as a tensor (None without a key); at
        prediction its width must be the training embedding's."""
        key = getattr(self, "cell_embedding_key", None)
        if key is None:
            return None
        width = None if training else self.cell_embedding_dim_
        values = cell_embedding(cells, key, self.name, width)
        self.cell_embedding_dim_ = values.shape[1]
        return torch.from_numpy(values)

    def _train(
        self,
        selection: tuple[Selection, ValidationEffects, ad.AnnData] | None = None,
        epochs: int | None = None,
    ) -> None:
        """Train for at most ``n_epochs``: with ``selection`` (the record, the held-out effects and
        the training cells whose controls predict them), score every epoch and stop after
        ``patience`` epochs without a better score; with ``epochs``, train exactly that many and
        keep the last weights (the refit); else stop on the validation loss and restore the best
        epoch's weights."""
        data = self.data_
        self.history_: list[dict[str, float]] = []
        best, best_state, since_best = np.inf, None, 0
        kept_states: dict[int, dict[str, torch.Tensor]] = {}
        if selection is not None:
            record, target, kept = selection
            queries = Queries(target.conditions, kept[kept.obs[c.IS_CONTROL].to_numpy(dtype=bool)])
            best = -np.inf
        for epoch in range(self.n_epochs if epochs is None else epochs):
            self.net_.train()
            order = data.train_cells[
                torch.randperm(data.train_cells.numel(), generator=self.generator_)
            ]
            total = 0.0
            for batch in order.split(self.batch_size):
                if batch.numel() < 2:  # batch norm needs two cells
                    continue
                total += self._training_step(batch, epoch) * batch.numel()
            train_loss = total / max(order.numel(), 1)
            self.net_.eval()
            with torch.no_grad():
                val_loss = (
                    self._validation_loss(data.val_cells) if data.val_cells.numel() else train_loss
                )
            if not np.isfinite(train_loss) or not np.isfinite(val_loss):
                raise ModelError(
                    f"{self.name}: the training loss became {train_loss}, validation loss "
                    f"{val_loss} at epoch {epoch}; lower lr."
                )
            self.history_.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
            if epochs is not None:
                continue
            if selection is not None:
                scores = {}
                for form in scored_forms(self.predict_effect):
                    with torch.random.fork_rng(devices=[]):  # training's random stream untouched
                        torch.manual_seed(self.seed)
                        predicted = self._predict(
                            queries, max_cells=SELECTION_MAX_CELLS, effect=form == "effect"
                        )
                    scores[form] = target.score(predicted)
                score = record.add(scores, val_loss, train_loss)
                self.history_[-1].update({f"val_pdcorr_{f}": v for f, v in scores.items()})
                improved = score > best + 1e-4
                best = max(best, score)
                if not self.refit_after_selection:  # the weights of every epoch still in the tie
                    kept_states[epoch] = copy.deepcopy(self.net_.state_dict())
                    candidates = record.near_best()
                    kept_states = {e: w for e, w in kept_states.items() if e in candidates}
            else:
                improved = val_loss < best
                if improved:
                    best, best_state = val_loss, copy.deepcopy(self.net_.state_dict())
            since_best = 0 if improved else since_best + 1
            if self.patience is not None and since_best >= self.patience:
                break
        if selection is not None:
            record.select()
            if kept_states:
                best_state = kept_states[record.epoch]
        if best_state is not None:
            self.net_.load_state_dict(best_state)
        self.best_epoch_ = (
            len(self.history_) - 1
            if epochs is not None
            else int(np.argmin([h["val_loss"] for h in self.history_]))
        )

    @property
    def losses_(self) -> list[float]:
        """The training loss of each epoch."""
        return [h["train_loss"] for h in self.history_]

    def condition_inputs(
        self, context: str, perturbation: str, dose: Any = None
    ) -> ConditionInputs:
        """The feature, covariate and dose tensors of one query condition."""
        targets = [c.split_combination(perturbation)]
        features = torch.from_numpy(self.features_.transform(targets).astype(np.float32))
        covariates = torch.zeros(1, len(self.contexts_))
        seen = context in self.contexts_
        if seen:
            covariates[0, self.contexts_.index(context)] = 1.0
        obs = pd.DataFrame({c.DOSE: [dose]}) if dose is not None else pd.DataFrame(index=[0])
        dose_t = torch.from_numpy(dose_values(obs, np.array([False])))
        return ConditionInputs(context, perturbation, features, covariates, dose_t, seen)

    def predict(self, queries: Queries) -> ad.AnnData:
        with torch.random.fork_rng(devices=[]), torch_threads(self.n_threads):
            torch.manual_seed(self.seed)
            return self._predict(queries)

    def _predict(
        self, queries: Queries, max_cells: int | None = None, effect: bool | None = None
    ) -> ad.AnnData:
        """Predicted cells of every query condition (at most ``max_cells`` control cells per
        context, default the model's ``max_cells``), in the effect form or not (default: the
        fitted ``effect_form_``)."""
        effect = self.effect_form_ if effect is None else effect
        self._prepare_prediction(queries)
        max_cells = (
            self.max_cells if max_cells is None else min(max_cells, self.max_cells or max_cells)
        )
        conditions = queries.conditions.reset_index(drop=True)
        query_control_means(queries, self.genes_)  # clear errors on missing controls or genes
        rng = np.random.default_rng(self.seed)
        blocks = [np.zeros((0, len(self.genes_)), dtype=np.float32)]
        obs_blocks = [pd.DataFrame({c.CONTEXT: [], c.PERTURBATION: []}, dtype=str)]
        self.net_.eval()
        for context, rows in conditions.groupby(
            c.CONTEXT, observed=True, sort=False
        ).groups.items():
            controls = queries.controls_of(str(context))
            x0 = dense_float32(controls[:, self.genes_].X)
            kept = np.arange(x0.shape[0])
            if max_cells is not None and x0.shape[0] > max_cells:
                kept = np.sort(rng.choice(x0.shape[0], max_cells, replace=False))
                x0 = x0[kept]
            x0_t = torch.from_numpy(x0)
            e0 = self._cell_embedding(controls)
            e0 = None if e0 is None else e0[torch.from_numpy(kept)]
            unperturbed = None  # f(x0, ∅), the model's output without a perturbation
            for row in rows:
                dose = conditions.at[row, c.DOSE] if c.DOSE in conditions.columns else None
                inputs = self.condition_inputs(
                    str(context), str(conditions.at[row, c.PERTURBATION]), dose
                )
                if e0 is not None:
                    inputs = dataclasses.replace(inputs, cell_x0=e0)
                with torch.no_grad():
                    cells = self._predict_cells(x0_t, inputs)
                    if effect:
                        if unperturbed is None:
                            unperturbed = self._predict_cells(x0_t, _unperturbed(inputs))
                        cells = x0_t.to(cells.device) + cells - unperturbed
                    cells = cells.cpu().numpy().astype(np.float32)
                blocks.append(cells)
                obs_blocks.append(query_obs(conditions, row, cells.shape[0]))
        obs = pd.concat(obs_blocks, ignore_index=True)
        obs.index = obs.index.astype(str)
        prediction = ad.AnnData(X=np.vstack(blocks), obs=obs, var=pd.DataFrame(index=self.genes_))
        prediction.uns[PREDICTION_KEY] = {
            "level": "cells",
            "method": f"{self.name} applied to the query's control cells",
        }
        return prediction


def _unperturbed(inputs: ConditionInputs) -> ConditionInputs:
    """The inputs of a control cell of the same context: the control label, zero perturbation
    features and dose."""
    return dataclasses.replace(
        inputs,
        perturbation=c.CONTROL,
        features=torch.zeros_like(inputs.features),
        dose=torch.zeros_like(inputs.dose),
    )


def gaussian_nll(mean: torch.Tensor, log_var: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean Gaussian negative log-likelihood of ``x`` per cell (summed over genes, constant dropped)."""
    return 0.5 * (log_var + (x - mean) ** 2 * torch.exp(-log_var)).sum(dim=1).mean()


def negative_binomial_nll(
    mean: torch.Tensor, inverse_dispersion: torch.Tensor, counts: torch.Tensor
) -> torch.Tensor:
    """Mean negative-binomial negative log-likelihood of ``counts`` per cell (summed over genes),
    mean ``mean`` and inverse dispersion ``θ`` (variance ``μ + μ²/θ``)."""
    eps = 1e-8
    theta = inverse_dispersion
    log_theta_mu = torch.log(theta + mean + eps)
    ll = (
        theta * (torch.log(theta + eps) - log_theta_mu)
        + counts * (torch.log(mean + eps) - log_theta_mu)
        + torch.lgamma(counts + theta)
        - torch.lgamma(theta)
        - torch.lgamma(counts + 1)
    )
    return -ll.sum(dim=1).mean()
