"""SAMS-VAE: the Sparse Additive Mechanism Shift Variational Autoencoder.

Bereket & Karaletsos, "Modelling Cellular Perturbations with the Sparse Additive Mechanism Shift
Variational Autoencoder", NeurIPS 2023 (authors' code: insitro/sams-vae). Needs the optional extra
``vcbench[torch]``.

Model. A cell's latent state is its basal state plus a sparse shift per perturbation target:

    z = z_b + d · Σ_{t ∈ targets(p)} m_t ⊙ e_t,      z_b ~ N(0, I)                      (latent)
    m_t ∈ {0,1}^L, m_{t,j} ~ Bernoulli(π)                              (sparse mechanism mask)
    e_t ~ N(0, s² I)                                                   (mechanism embedding)
    x | z ~ N(μ_θ([z, k]), diag σ²_θ([z, k]))                          (log-normalised expression)

``L`` latent dimensions, ``π`` = ``mask_prior_prob``, ``s`` = ``embedding_prior_scale``, ``d`` the
dose input (1 without doses, see ``common``), ``k`` the one-hot of the cell's context (zero for a
context not seen in training); ``μ_θ``, ``σ²_θ`` are the two heads of the decoder MLP
(``σ² = exp(h) + 10⁻⁴``). The masks and embeddings are global variables (one per target, shared by
every cell that receives it); ``z_b`` is local (one per cell).

Variational posterior (the authors' mean-field guide for the global variables, with the basal
encoder that also sees the sampled shift):

    q(m_{t,j}) = Bernoulli(σ(a_{t,j})),   q(e_t) = N(μ_t, diag ς_t²),
    q(z_b | x, shift) = N(enc_μ([x̃, shift]), diag enc_σ²([x̃, shift])),

with ``x̃`` the expression standardised per gene (training mean and standard deviation) and
``shift = d · Σ_t m_t ⊙ e_t`` the sampled latent shift of the cell (zero for controls). The
per-target parameters are amortised from the target's perturbation features ``f_t`` (its one-hot
among the training targets and/or its row of the embedding table, ``PerturbationFeatures``):
``a_t = W_a f_t + b_a``, ``μ_t = W_μ f_t + b_μ``, ``log ς_t = W_ς f_t + b_ς``. With the one-hot part
the weights of a seen target are its free variational parameters (the original guide); the
embedding part is a learned linear map shared by all targets, which places an unseen target.

Training objective: the negative ELBO per cell, on mini-batches of training cells (controls
included: their shift is zero, so they train the encoder and decoder),

    −ELBO/N ≈ mean_i [ −log N(x_i | μ_θ, σ²_θ) + KL(q(z_b,i | x_i) ‖ N(0, I)) ]
              + (1/N) Σ_{t seen} [ KL(q(m_t) ‖ Bernoulli(π)) + KL(q(e_t) ‖ N(0, s² I)) ],

``N`` the number of training cells (the global KL is counted once over the data set, so the
standard stochastic-VI estimator divides it by ``N`` in every mini-batch). The reconstruction term
is estimated with ``n_particles`` samples of (m, e, z_b): masks by the straight-through
relaxed Bernoulli (Gumbel-sigmoid with ``temperature``; hard 0/1 values in the forward pass, the
relaxed sample's gradient in the backward pass), embeddings and basal states by the
reparameterisation trick. Adam (``lr``, ``weight_decay``), gradient norm clipped at ``grad_clip``,
early stopping on the validation ELBO (common random numbers: the same seeded draws every epoch).

Prediction: for each query control cell ``x₀`` (at most ``max_cells``), ``z_b`` = the posterior
mean ``enc_μ([x̃₀, 0])``, plus the posterior mean shift ``d · Σ_t E[m_t] ⊙ E[e_t] =
d · Σ_t σ(a_t) ⊙ μ_t`` over the query's targets (each target's parameters from its own features, so
an unseen target gets the linear map's values); the output is the decoded mean ``μ_θ([z, k])``, one
predicted log-normalised cell per control cell (deterministic, no sampling). With
``prediction="shift"`` the output is instead ``x₀ + μ_θ([z, k]) − μ_θ([z_b, k])``: the decoded
change added to the real control cell, which keeps the cell's own noise and removes the decoder's
reconstruction bias (shared by every perturbation) from the predicted effect.

Defaults: ``latent_dim=32``, ``hidden=128``, ``n_layers=1`` (encoder and decoder), LeakyReLU,
``mask_prior_prob=0.01``, ``embedding_prior_scale=1``, ``temperature=1``, ``n_particles=5``,
``grad_clip=100``, ``mean_field_encoder=False`` (True: ``q(z_b | x)`` without the shift, the
authors' other guide option), ``prediction="decoded"``, ``features="onehot+embedding"``, ``n_epochs=100``,
``batch_size=128``, ``lr=1e-2``, ``weight_decay=1e-6``, ``patience=15``,
``validation_fraction=0.1``, ``max_cells=500``, ``n_threads=1``.

Deviations from the original:

- Likelihood: a Gaussian on log-normalised expression with per-gene mean and variance from the
  decoder (the authors' ``normal`` likelihood), not their library-size negative binomial on counts
  used for the paper's Perturb-seq results: vcbench's models predict log-normalised cells.
- Context: the decoder also takes the context one-hot ``k`` (the original models one cell line
  and has no covariate); an unseen context gets the zero vector.
- Amortised global parameters: the original guide has free per-target parameters only (it cannot
  predict a target not seen in training). Here they are linear functions of the target's features;
  with the one-hot part this contains the free parameters, the embedding part adds a shared linear
  map (and a shared bias) so that unseen targets get masks and embeddings.
- Global KL: computed in closed form over all seen targets and divided by the number of training
  cells in every mini-batch (standard SVI), instead of the authors' per-cell Monte-Carlo estimate
  in which a cell carries 1/n_t of its targets' prior terms; both estimate the same ELBO. The local
  KL of ``z_b`` is in closed form too (the authors use the sampled log-density ratio).
- Sizes and schedule scaled to CPU and small data: latent 32 (paper: 100–200), hidden 128
  (350–400), batch 128 (512), learning rate 1e-2 (paper: 1e-3 in the demo configs, 3e-4 in the
  sweeps, for 30k–150k steps; with the ~2,000 steps of 100 epochs on a few thousand cells, 1e-3
  had barely moved the masks and embeddings), at most 100 epochs with early stopping on a
  validation split (the original trains a fixed number of steps and selects by validation
  IWELBO). The validation ELBO uses the same seeded draws every epoch, so that epochs are compared
  on equal noise.
- Encoder input: expression standardised per gene on the log-normalised scale (the original's
  ``log_standardize`` takes log(1+x) of counts first; vcbench's data is already log-normalised); a
  gene with (almost) no variance in training keeps scale 1.
- Dose: the shift is multiplied by vcbench's dose input ``d`` (the original's dosage matrix holds
  1 per applied target); combinations add their targets' shifts, as in the original.
- Prediction: decoded means from the query's own control cells (their basal states), with the
  posterior means of masks and embeddings; the authors sample ``z_b`` from the prior and sample
  masks, embeddings and observations to estimate average treatment effects. ``prediction="shift"``
  (not the default) is not in the original.
"""

from __future__ import annotations

from typing import Literal, Self

import anndata as ad
import numpy as np
import pandas as pd
import torch
from torch import nn

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models.deep.common import (
    ConditionInputs,
    DeepModel,
    FeatureKind,
    SelectionKind,
    TrainingData,
    gaussian_nll,
)
from vcbench.models.embeddings import EmbeddingSource

VAR_EPS = 1e-4
VALIDATION_CHUNK = 2048


def relaxed_bernoulli_straight_through(
    logits: torch.Tensor, temperature: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Straight-through relaxed Bernoulli samples of ``σ(logits)``: the value is the hard 0/1
    rounding of the relaxed sample ``σ((logits + log u − log(1 − u)) / temperature)``, ``u ~ U(0,
    1)``, the gradient is the relaxed sample's (Maddison et al. 2017; Jang et al. 2017). The hard
    values are exact Bernoulli(σ(logits)) samples for any temperature."""
    eps = torch.finfo(logits.dtype).eps
    u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
    u = u.clamp(eps, 1.0 - eps)
    soft = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / temperature)
    hard = (soft > 0.5).to(soft.dtype)
    return hard + (soft - soft.detach())  # exactly 0 or 1, with the relaxed gradient


def bernoulli_kl(logits: torch.Tensor, prior_prob: float) -> torch.Tensor:
    """Elementwise ``KL(Bernoulli(σ(logits)) ‖ Bernoulli(prior_prob))``."""
    q = torch.sigmoid(logits)
    log_q, log_not_q = nn.functional.logsigmoid(logits), nn.functional.logsigmoid(-logits)
    return q * (log_q - np.log(prior_prob)) + (1.0 - q) * (log_not_q - np.log1p(-prior_prob))


def normal_kl(loc: torch.Tensor, scale: torch.Tensor, prior_scale: float = 1.0) -> torch.Tensor:
    """Elementwise ``KL(N(loc, scale²) ‖ N(0, prior_scale²))``."""
    ratio = (scale / prior_scale) ** 2
    return 0.5 * (ratio + (loc / prior_scale) ** 2 - 1.0 - torch.log(ratio))


class _GaussianMLP(nn.Module):
    """``n_layers`` hidden layers of ``n_hidden`` units (LeakyReLU; residual connections from the
    second layer on, as in the authors' MLPs), then two linear heads: a mean and a log variance
    (``log(exp(h) + 10⁻⁴)``)."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, n_layers: int) -> None:
        super().__init__()
        self.first = nn.Sequential(nn.Linear(n_in, n_hidden), nn.LeakyReLU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(n_hidden, n_hidden), nn.LeakyReLU())
            for _ in range(n_layers - 1)
        )
        self.mean = nn.Linear(n_hidden, n_out)
        self.log_var = nn.Linear(n_hidden, n_out)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.first(x)
        for block in self.blocks:
            h = h + block(h)
        log_var = torch.logaddexp(self.log_var(h), torch.tensor(np.log(VAR_EPS), dtype=h.dtype))
        return self.mean(h), log_var


class _SAMSVAENet(nn.Module):
    """Every trained parameter: the basal encoder, the decoder, and the linear maps from a target's
    features to its variational parameters (mask logits, embedding mean and log scale)."""

    def __init__(
        self,
        n_genes: int,
        n_features: int,
        n_contexts: int,
        latent_dim: int,
        hidden: int,
        n_layers: int,
        x_mean: torch.Tensor,
        x_scale: torch.Tensor,
    ) -> None:
        super().__init__()
        self.register_buffer("x_mean", x_mean)
        self.register_buffer("x_scale", x_scale)
        self.encoder = _GaussianMLP(n_genes + latent_dim, hidden, latent_dim, n_layers)
        self.decoder = _GaussianMLP(latent_dim + n_contexts, hidden, n_genes, n_layers)
        self.mask_logits = nn.Linear(n_features, latent_dim)
        self.embedding_loc = nn.Linear(n_features, latent_dim)
        self.embedding_log_scale = nn.Linear(n_features, latent_dim)
        # the authors' initial guide: mask probability 0.5, embedding N(0, 1)
        for layer in (self.mask_logits, self.embedding_loc, self.embedding_log_scale):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def guide(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mask logits, embedding means and embedding scales of targets with features ``f``."""
        scale = torch.exp(self.embedding_log_scale(f)) + VAR_EPS
        return self.mask_logits(f), self.embedding_loc(f), scale

    def encode(self, x: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log variance of ``q(z_b | x, shift)``."""
        return self.encoder(torch.cat([(x - self.x_mean) / self.x_scale, shift], dim=-1))

    def decode(self, z: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log variance of ``p(x | z, k)``."""
        return self.decoder(torch.cat([z, k], dim=-1))


class SAMSVAE(DeepModel):
    """SAMS-VAE (Bereket & Karaletsos, NeurIPS 2023): sparse additive mechanism shifts in the
    latent space of a VAE, global masks and embeddings learned by variational inference (module
    docstring)."""

    name = "sams_vae"

    def __init__(
        self,
        latent_dim: int = 32,
        hidden: int = 128,
        n_layers: int = 1,
        mask_prior_prob: float = 0.01,
        embedding_prior_scale: float = 1.0,
        temperature: float = 1.0,
        n_particles: int = 5,
        grad_clip: float | None = 100.0,
        mean_field_encoder: bool = False,
        prediction: Literal["decoded", "shift"] = "decoded",
        features: FeatureKind = "onehot+embedding",
        embedding: EmbeddingSource | None = None,
        n_components: int = 10,
        n_epochs: int = 100,
        batch_size: int = 128,
        lr: float = 1e-2,
        weight_decay: float = 1e-6,
        patience: int | None = 15,
        validation_fraction: float = 0.1,
        max_cells: int | None = 500,
        seed: int = 0,
        device: str = "cpu",
        n_threads: int | None = 1,
        selection: SelectionKind = "effect",
        validation_perturbations: float = 0.2,
        predict_effect: bool | Literal["auto"] = "auto",
    ) -> None:
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.n_layers = n_layers
        self.mask_prior_prob = mask_prior_prob
        self.embedding_prior_scale = embedding_prior_scale
        self.temperature = temperature
        self.n_particles = n_particles
        self.grad_clip = grad_clip
        self.mean_field_encoder = mean_field_encoder
        self.prediction = prediction
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

    def fit(self, train: ad.AnnData) -> Self:
        if not 0.0 < self.mask_prior_prob < 1.0:
            raise ModelError(
                f"{self.name}: mask_prior_prob must be in (0, 1), got {self.mask_prior_prob}."
            )
        if self.temperature <= 0 or self.embedding_prior_scale <= 0:
            raise ModelError(
                f"{self.name}: temperature and embedding_prior_scale must be positive, got "
                f"{self.temperature} and {self.embedding_prior_scale}."
            )
        if self.prediction not in ("decoded", "shift"):
            raise ModelError(
                f"{self.name}: prediction must be 'decoded' or 'shift', got {self.prediction!r}."
            )
        if min(self.latent_dim, self.hidden, self.n_layers, self.n_particles) < 1:
            raise ModelError(
                f"{self.name}: latent_dim, hidden, n_layers and n_particles must be at least 1."
            )
        return super().fit(train)

    # -- DeepModel ----------------------------------------------------------------------------

    def _setup(self, data: TrainingData) -> None:
        vocabulary = self.features_.vocabulary_
        column = {t: j for j, t in enumerate(vocabulary)}
        incidence = np.zeros((data.n_perturbations + 1, len(vocabulary)), dtype=np.float32)
        for row, label in enumerate(data.labels):  # the last row (controls) stays zero
            for target in c.split_combination(label):
                incidence[row, column[target]] += 1.0
        self.incidence_ = torch.from_numpy(incidence)  # training condition × target
        self.target_features_ = self._target_features(vocabulary)
        x_train = data.x[data.train_cells]
        std = x_train.std(dim=0) if x_train.shape[0] > 1 else torch.zeros(data.n_genes)
        self.net_ = _SAMSVAENet(
            n_genes=data.n_genes,
            n_features=data.n_features,
            n_contexts=data.n_contexts,
            latent_dim=self.latent_dim,
            hidden=self.hidden,
            n_layers=self.n_layers,
            x_mean=x_train.mean(dim=0),
            x_scale=torch.where(std > 1e-3, std, torch.ones_like(std)),
        ).to(self.device)
        self.optimizer_ = torch.optim.Adam(
            self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        self.n_train_cells_ = int(data.train_cells.numel())

    def _training_step(self, batch: torch.Tensor, epoch: int) -> float:
        loss = self._negative_elbo(batch, self.generator_)
        self.optimizer_.zero_grad()
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.net_.parameters(), self.grad_clip)
        self.optimizer_.step()
        return float(loss.detach())

    def _validation_loss(self, cells: torch.Tensor) -> float:
        generator = torch.Generator().manual_seed(self.seed + 1)  # the same draws every epoch
        total = sum(
            float(self._negative_elbo(chunk, generator)) * chunk.numel()
            for chunk in cells.split(VALIDATION_CHUNK)
        )
        return total / cells.numel()

    def _predict_cells(self, x0: torch.Tensor, inputs: ConditionInputs) -> torch.Tensor:
        x0 = x0.to(self.device)
        shift = self._mean_shift(c.split_combination(inputs.perturbation))
        shift = shift * inputs.dose.to(self.device)
        z_basal, _ = self.net_.encode(x0, x0.new_zeros(x0.shape[0], self.latent_dim))
        k = inputs.covariates.to(self.device).expand(x0.shape[0], -1)
        mean, _ = self.net_.decode(z_basal + shift, k)
        if self.prediction == "shift":
            control, _ = self.net_.decode(z_basal, k)
            return x0 + (mean - control)
        return mean

    # -- the model ----------------------------------------------------------------------------

    def _target_features(self, targets: list[str]) -> torch.Tensor:
        """The perturbation features of single targets (rows), on the model's device."""
        if not targets:
            return torch.zeros(0, self.features_.n_features, device=self.device)
        table = self.features_.transform([(t,) for t in targets]).astype(np.float32)
        return torch.from_numpy(table).to(self.device)

    def _negative_elbo(self, cells: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The negative ELBO per cell of training rows ``cells`` (module docstring)."""
        data, net, p = self.data_, self.net_, self.n_particles
        x = data.x[cells].to(self.device)
        k = data.covariates[cells].to(self.device)
        dosage = (self.incidence_[data.condition[cells]] * data.dose[cells, None]).to(self.device)

        logits, loc, scale = net.guide(self.target_features_)  # targets × latent
        mask = relaxed_bernoulli_straight_through(
            logits.expand(p, -1, -1), self.temperature, generator
        )
        noise = torch.randn((p, *loc.shape), generator=generator).to(self.device)
        shift = dosage @ (mask * (loc + scale * noise))  # particles × cells × latent

        x_p = x.expand(p, -1, -1)
        z_mean, z_log_var = net.encode(
            x_p, torch.zeros_like(shift) if self.mean_field_encoder else shift
        )
        noise = torch.randn(z_mean.shape, generator=generator).to(self.device)
        z_basal = z_mean + torch.exp(0.5 * z_log_var) * noise
        x_mean, x_log_var = net.decode(z_basal + shift, k.expand(p, -1, -1))

        reconstruction = gaussian_nll(
            x_mean.flatten(0, 1), x_log_var.flatten(0, 1), x_p.flatten(0, 1)
        )
        local_kl = normal_kl(z_mean, torch.exp(0.5 * z_log_var)).sum(dim=-1).mean()
        global_kl = (
            bernoulli_kl(logits, self.mask_prior_prob).sum()
            + normal_kl(loc, scale, self.embedding_prior_scale).sum()
        )
        return reconstruction + local_kl + global_kl / self.n_train_cells_

    def _mean_shift(self, targets: tuple[str, ...]) -> torch.Tensor:
        """``Σ_t E[m_t] ⊙ E[e_t]`` over ``targets`` (zero for none)."""
        logits, loc, _ = self.net_.guide(self._target_features(list(targets)))
        return (torch.sigmoid(logits) * loc).sum(dim=0)

    # -- inspection ---------------------------------------------------------------------------

    def latent_shift(self, perturbation: str) -> np.ndarray:
        """The posterior mean latent shift ``Σ_t E[m_t] ⊙ E[e_t]`` of a perturbation label (its
        targets need not be seen in training)."""
        with torch.no_grad():
            return self._mean_shift(c.split_combination(perturbation)).cpu().numpy()

    def mask_probabilities(self) -> pd.DataFrame:
        """``q(m_t = 1)`` of every training target (rows) and latent dimension (columns)."""
        with torch.no_grad():
            logits, _, _ = self.net_.guide(self.target_features_)
        return pd.DataFrame(
            torch.sigmoid(logits).cpu().numpy(), index=pd.Index(self.features_.vocabulary_)
        )
