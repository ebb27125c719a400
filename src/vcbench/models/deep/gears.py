"""GEARS: a graph-enhanced gene activation and repression simulator.

Roohani, Huang & Leskovec, "Predicting transcriptional outcomes of novel multigene perturbations
with GEARS", Nature Biotechnology 42 (2024). Needs the optional extra ``vcbench[torch]``.

Notation: ``G`` measured genes, hidden size ``H``, ``x₀`` a control cell of the context
(log-normalised), ``P`` the perturbation-graph nodes (genes that can be perturbed), ``BN`` batch
normalisation, ``MLP[a, b, c]`` GEARS's perceptron ``Linear(a, b) → BN → ReLU → Linear(b, c) → BN``.

Graphs (built at fit time):

- gene co-expression graph over the measured genes: Pearson correlation ``r`` between genes over
  the training control and single-perturbation cells (GEARS leaves the combinations out); gene
  ``t`` receives an edge from each of its ``k + 1`` genes ``s`` of largest ``|r(s, t)|`` (itself
  included) whose ``|r|`` exceeds ``coexpress_threshold``, with weight ``|r(s, t)|``
  (``coexpression_graph``);
- perturbation graph over ``P``: with a ``go_terms`` table (gene → GO term; the default ``"auto"``
  uses the shipped annotations, ``vcbench.knowledge``, when they annotate a training target, a
  target matched by its name or its harmonised gene symbol), the similarity of two
  genes is the Jaccard index of their GO-term sets ``T_s``, ``T_t``:
  ``J(s, t) = |T_s ∩ T_t| / (|T_s| + |T_t| − |T_s ∩ T_t|)``; gene
  ``t`` receives an edge from each of its ``k + 1`` most similar genes with ``J > go_threshold``
  (``jaccard_graph``). Without a table a warning names ``go_terms`` and the graph falls back to
  the cosine similarity of the rows of ``embedding`` (when given; top ``k + 1`` with positive
  similarity, ``cosine_graph``), else to the co-expression graph; ``perturbation_graph_`` records
  which (``"go"``, ``"embedding"`` or ``"coexpression"``). Every training target is a node (an
  isolated one when the graph does not know it).

A graph convolution is GEARS's SGConv with one hop: ``SG(E) = Linear(Â E)`` with
``Â = D^-½ (W + I) D^-½`` (self loops of weight 1 added where missing, ``D`` the weighted
in-degrees), computed as a torch sparse-dense product.

Model (per perturbation ``p`` with targets ``T_p``; every step is GEARS's):

- gene embeddings ``b = MLP[H, H, H](ReLU(BN(E_gene)) + 0.2 · SG_coexpr(E_pos))`` (``G × H``;
  ``E_gene``, ``E_pos`` learned tables with rows of norm at most 1);
- perturbation embeddings ``q = SG_pert(E_pert)`` (``|P| × H``, ``num_go_gnn_layers`` convolutions
  with ReLU between them), summed over the targets and fused: ``e_p = MLP[H, H, H](Σ_{t ∈ T_p}
  q_t)``, added to every gene's embedding: ``h_g = ReLU(BN(b_g + e_p))`` (controls and
  perturbations without a graph target add nothing);
- shared decoder ``u_g = MLP[H, 2H, H](h_g)`` and gene-specific layer ``o_g = w1_gᵀ u_g + b1_g``;
- cross-gene layer ``c = MLP[G, H, H](o)`` (one state for the whole cell) and the gene-specific
  output ``Δ_g = w2_g · [o_g, c] + b2_g``;
- prediction ``ŷ = x₀ + Δ``.

Training objective (GEARS's ``loss_fct``): each perturbed training cell ``y`` is paired with a
random training control ``x₀`` of its context (drawn anew at every step; GEARS draws one control per
cell), control cells are paired with themselves (``x₀ = y``, as GEARS), and, per perturbation
``p`` of the mini-batch (cells ``C_p``, genes ``K_p``: those with non-zero mean expression in
``p``'s training cells, all genes for controls),

    L_p = 1/(|C_p| |K_p|) Σ_{i ∈ C_p, g ∈ K_p} [ |ŷ_ig − y_ig|^(2+gamma)
                                              + λ (sign(y_ig − x̄_g) − sign(ŷ_ig − x̄_g))² ],

with ``x̄`` the mean of the context's training controls (GEARS's control mean, not the paired
cell); the loss is the mean of ``L_p`` over the batch's perturbations (``gears_loss``). As in GEARS
the direction term has zero gradient almost everywhere (``sign``), so it shapes the reported and
validation loss but not the updates. Adam with ``lr`` and ``weight_decay``, the learning rate
halved after each epoch (``lr_decay``, GEARS's ``StepLR``), gradients clipped at 1 (by value).

Prediction: ``Δ`` depends only on the perturbation (batch normalisation uses its running statistics
at prediction time), so it is computed once per query and added to each of the query's control
cells (at most ``max_cells``). An unseen target that is a node of the perturbation graph gets its
embedding through its neighbours in the graph; a target in no graph adds no embedding (a
perturbation with no known target is predicted as the controls plus the model's control
correction). Contexts and doses are not inputs (GEARS has neither): a new context is handled through
its control cells alone.

Defaults (GEARS's ``model_initialize`` and ``train``): ``hidden_size=64``,
``num_go_gnn_layers=1``, ``num_gene_gnn_layers=1``, ``num_similar_genes_go_graph=20``,
``num_similar_genes_co_express_graph=20``, ``coexpress_threshold=0.4``, ``go_threshold=0.1``
(``make_GO``), ``gamma=2``, ``direction_lambda=0.1``, ``n_epochs=20``, ``batch_size=32``,
``lr=1e-3``, ``weight_decay=5e-4``, ``lr_decay=0.5``. These sizes already run on CPU: nothing is
scaled down. GEARS tuned them on tens of thousands of cells; on a small, noisy training set (the
bundled demo's K562 split: 1,500 cells) the fourth-power loss on single cells is dominated by cell
noise and the model learns little (``gamma=0``, squared error, learns the mean effects better).

Deviations from the original:

- Gene-ontology table: the shipped org.Hs.eg.db 2022 annotations (``go_terms="auto"``) or the
  user's table, instead of GEARS's downloaded ``gene2go`` graph (vcbench has no network access at
  fit time); with ``go_terms=None`` or targets the table does not annotate the perturbation graph
  is the embedding-cosine or the co-expression graph (GEARS always has a GO graph).
- Perturbation nodes: the genes of the perturbation graph plus every training target (GEARS drops
  the perturbations whose genes are not in its GO graph; here they keep an isolated node with its
  own learned embedding). A query target outside every graph contributes no embedding (GEARS
  refuses such queries).
- Co-expression: each gene is centred within each context before the correlation (for several
  contexts; identical to GEARS's pooled Pearson correlation with one context, its setting), so that
  differences between cell lines are not read as co-expression. Ties among equally correlated
  genes are broken by gene order (GEARS: ``np.argsort``'s order).
- Computation: the network runs once per distinct perturbation of a mini-batch instead of once per
  cell; the batch-normalisation statistics weight each perturbation by its number of cells, which
  gives the same outputs, gradients and running statistics as GEARS's per-cell pass, because the
  predicted change depends only on the perturbation (tests/test_gears_propagation.py checks the
  network against GEARS's per-cell pass written with torch's own layers). The perturbation-graph
  convolution is computed only on the rows that the targets read (their ``num_go_gnn_layers``-hop
  in-neighbourhoods, ``propagation_rows``; the blocks of the training targets are prepared once,
  ``plan_rows``), which gives the same values and gradients (to float rounding) as convolving
  every node of the GO graph (20,728 nodes for the shipped annotations). Same numbers, fewer
  passes: the ``max_norm=1`` renormalisation of the embedding tables is one vectorised operation
  per forward pass (``renorm_rows_``) instead of torch's per-row loop; the weighted batch norm is
  one autograd function with its gradient written out (``_WeightedNorm``); the normalisation of
  ``b_g + e_p`` takes its statistics from the two tables (``_BatchNorm.forward_sum``); the
  gene-specific layer is a multiply-sum (not an einsum); Adam is torch's fused implementation;
  only the rows of the GO-node table that the training targets read are trained as a parameter
  (``split_table``): the others get a zero gradient at every step, so weight decay alone changes
  them, and that recurrence is replayed for the rows a query reads (``_replay``; the same
  predictions as training the whole table, tests/test_gears_propagation.py; identical on the demo).
  Training amplifies float rounding (Adam turns the rounding noise of zero-gradient directions,
  the biases before a batch norm, into full steps), so these rewrites, like a change of
  ``n_threads``, move the trained model's predictions by up to ~0.1 on single genes of the demo
  and its pdcorr by ~0.02. On the demo's combination split (K562, seed 0, ``n_threads=1``) the
  fit takes about 25–30 s of CPU (2.6 s setup with the GO graph cached on disk, 24–30 ms per
  step on a loaded machine), against about 46 s before; the first fit on a machine also builds the
  GO graph of the shipped annotations once (about 13 s of CPU, then cached).
- Contexts: several contexts are pooled (the direction loss uses each context's own control mean;
  GEARS has one cell type). Perturbed cells of a context without training controls are left out of
  the loss.
- Model selection: the common counterfactual validation (held-out training perturbations, pdcorr
  of their effects) replaces GEARS's choice of the epoch with the lowest validation MSE on the
  top-20 DE genes of held-out perturbations; as in GEARS, the selected epoch's weights are kept
  (no refit: ``refit_after_selection = False``); ``patience=None`` by default, so that all
  ``n_epochs`` run as in GEARS.
- Not implemented: the uncertainty head (off by default in GEARS) and ``decoder_hidden_size``
  (defined but unused in GEARS's network).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import nn

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.knowledge.go_graph import (
    SIMILARITY_CHUNK,
    GoTermSource,
    gene_symbol,
    jaccard_graph,
    shipped_if_it_covers,
    top_k_edges,
)
from vcbench.models.base import Queries
from vcbench.models.deep.common import (
    ConditionInputs,
    DeepModel,
    FeatureKind,
    SelectionKind,
    TrainingData,
)
from vcbench.models.embeddings import EmbeddingSource, load_embedding

GRAD_CLIP = 1.0  # GEARS clips every gradient entry to [-1, 1]
POS_WEIGHT = 0.2  # weight of the co-expression (positional) gene embedding, as in GEARS


# -- graphs ---------------------------------------------------------------------------------------


def coexpression_graph(
    x: np.ndarray, k: int, threshold: float, groups: np.ndarray | None = None
) -> sp.csr_matrix:
    """GEARS's co-expression graph of the columns of ``x`` (cells × genes): ``W[t, s] = |r(s, t)|``
    for the ``k + 1`` genes ``s`` of largest absolute Pearson correlation with ``t`` (``t`` itself
    included) above ``threshold``. With ``groups``, each gene is centred within each group first."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0)
    if groups is not None:
        for group in np.unique(groups):
            rows = groups == group
            centred[rows] = x[rows] - x[rows].mean(axis=0)
    squares = (centred**2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (centred.T @ centred) / np.sqrt(np.outer(squares, squares))
    r = np.abs(np.clip(np.nan_to_num(r, nan=0.0), -1.0, 1.0))
    return top_k_edges(iter([(0, r)]), r.shape[0], k + 1, threshold)


def cosine_graph(table: pd.DataFrame, k: int) -> tuple[list[str], sp.csr_matrix]:
    """The embedding fallback: ``W[t, s]`` the cosine similarity of rows ``s`` and ``t`` of the
    embedding table, for the ``k + 1`` rows most similar to ``t`` (itself included) with positive
    similarity."""
    values = table.to_numpy(dtype=np.float64)
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    unit = np.divide(values, norms, out=np.zeros_like(values), where=norms > 0)

    def blocks() -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, unit.shape[0], SIMILARITY_CHUNK):
            yield start, unit[start : start + SIMILARITY_CHUNK] @ unit.T

    return table.index.astype(str).tolist(), top_k_edges(blocks(), unit.shape[0], k + 1, 0.0)


def sgconv_propagation(weights: sp.spmatrix) -> sp.csr_matrix:
    """The propagation matrix ``Â = D^-½ (W + I) D^-½`` of a one-hop SGConv (``W[t, s]`` the weight
    of edge ``s → t``; a self loop of weight 1 is added where there is none, ``D`` the weighted
    in-degrees), as a scipy CSR matrix with sorted indices."""
    w = sp.csr_matrix(weights, dtype=np.float64)
    w = w + sp.diags((w.diagonal() == 0).astype(np.float64))
    scale = sp.diags(1.0 / np.sqrt(np.asarray(w.sum(axis=1)).ravel()))
    a = sp.csr_matrix(scale @ w @ scale)
    a.sort_indices()
    return a


def sparse_tensor(matrix: sp.spmatrix) -> torch.Tensor:
    """A scipy sparse matrix as a coalesced sparse torch tensor (float32)."""
    a = sp.coo_matrix(matrix)
    index = torch.from_numpy(np.vstack([a.row, a.col]).astype(np.int64))
    values = torch.from_numpy(a.data.astype(np.float32))
    return torch.sparse_coo_tensor(index, values, a.shape, check_invariants=True).coalesce()


def sgconv_matrix(weights: sp.spmatrix) -> torch.Tensor:
    """``sgconv_propagation(weights)`` as a sparse torch tensor."""
    return sparse_tensor(sgconv_propagation(weights))


def propagation_rows(adjacency: sp.csr_matrix, rows: np.ndarray, n_hops: int) -> list[np.ndarray]:
    """The nodes that ``n_hops`` propagations by ``adjacency`` read to give the output ``rows``:
    ``[rows, their in-neighbours, …]`` (each sorted; ``n_hops + 1`` sets). Every ``Â`` has self
    loops, so each set contains the one before."""
    hops = [np.unique(rows)]
    for _ in range(n_hops):
        hops.append(np.unique(np.concatenate([hops[-1], adjacency[hops[-1]].indices])))
    return hops


def renorm_rows_(weight: torch.Tensor, max_norm: float = 1.0) -> None:
    """Scale, in place, each row of ``weight`` whose Euclidean norm exceeds ``max_norm`` by
    ``max_norm / (norm + 1e-7)``: ``nn.Embedding(max_norm=…)``'s renormalisation of the rows it
    looks up (``torch.embedding_renorm_``), for every row at once."""
    with torch.no_grad():
        norms = weight.norm(dim=1, keepdim=True)
        weight.mul_(torch.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0))


# -- loss -----------------------------------------------------------------------------------------


def gears_loss(
    pred: torch.Tensor,
    y: torch.Tensor,
    ctrl: torch.Tensor,
    groups: torch.Tensor,
    mask: torch.Tensor | None = None,
    gamma: float = 2.0,
    direction_lambda: float = 0.1,
) -> torch.Tensor:
    """GEARS's autofocus + direction loss (module docstring): per group (perturbation) the mean over
    its cells and kept genes (``mask``, all genes when None) of
    ``|ŷ − y|^(2+gamma) + λ (sign(y − x̄) − sign(ŷ − x̄))²``, then the mean over the groups.
    ``ctrl`` is ``x̄`` per cell (or one row)."""
    keep = torch.ones_like(pred) if mask is None else mask.to(pred.dtype)
    per_gene = (pred - y).abs() ** (2.0 + gamma) + direction_lambda * (
        torch.sign(y - ctrl) - torch.sign(pred - ctrl)
    ) ** 2
    per_cell = (per_gene * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)
    _, inverse, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    return (per_cell / counts[inverse]).sum() / counts.numel()


# -- network --------------------------------------------------------------------------------------


class _WeightedNorm(torch.autograd.Function):
    """Weighted batch normalisation with its gradient written out: with shares ``s`` (summing to
    1), ``μ = Σ_i s_i x_i``, ``σ² = Σ_i s_i (x_i − μ)²``, ``x̂ = (x − μ) / √(σ² + ε)`` and
    ``y = a x̂ + b`` (``a``, ``b``: the scale and shift); for an upstream gradient ``g``,
    ``∂b = Σ_i g_i``, ``∂a = Σ_i g_i x̂_i`` and ``∂x_i = a / √(σ² + ε) · (g_i − s_i (∂b + x̂_i ∂a))``:
    the gradient autograd gives for the same expressions, in fewer passes over the
    (perturbations × genes) rows. Also returns ``μ`` and ``σ²`` (for the running statistics; no
    gradient flows through them)."""

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        x: torch.Tensor,
        share: torch.Tensor,
        gamma: torch.Tensor,
        beta: torch.Tensor,
        eps: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean = share @ x
        centred = x - mean
        var = share @ centred.square()
        inv = torch.rsqrt(var + eps)
        x_hat = centred.mul_(inv)
        ctx.save_for_backward(x_hat, share, gamma * inv)
        return torch.addcmul(beta, x_hat, gamma), mean, var

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx,
        grad: torch.Tensor,
        _grad_mean: torch.Tensor,
        _grad_var: torch.Tensor,
    ) -> tuple[torch.Tensor, None, torch.Tensor, torch.Tensor, None]:
        x_hat, share, scale = ctx.saved_tensors
        d_beta = grad.sum(dim=0)
        d_gamma = (grad * x_hat).sum(dim=0)
        d_x = torch.addcmul(d_beta, x_hat, d_gamma).mul_(share[:, None])
        return (grad - d_x).mul_(scale), None, d_gamma, d_beta, None


class _BatchNorm(nn.BatchNorm1d):
    """Batch normalisation whose training statistics count row ``i`` ``weight[i]`` times (the
    statistics, gradients and running estimates of the batch with the rows repeated;
    ``_WeightedNorm``)."""

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        if weight is None:
            weight = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
        total = weight.sum()
        out, mean, var = _WeightedNorm.apply(x, weight / total, self.weight, self.bias, self.eps)
        self._track(mean, var, total)
        return out

    def forward_sum(
        self, base: torch.Tensor, shift: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """The batch normalisation of the rows ``base[g] + shift[p]`` for every ``p`` and ``g``
        (``len(shift) × len(base)`` rows; ``weight[p]`` the weight of the rows of ``p``, each
        ``g`` counted once), shaped ``(p, g, features)``. In training, the statistics come from
        the two tables alone: the weighted mean is ``μ_base + μ_shift`` and, the cross term
        vanishing, the variance ``σ²_base + σ²_shift``, both exact."""
        if not self.training:
            rows = (shift[:, None] + base[None]).flatten(0, 1)
            return super().forward(rows).unflatten(0, (shift.shape[0], base.shape[0]))
        share = weight / weight.sum()
        base_mean, shift_mean = base.mean(dim=0), share @ shift
        base_c, shift_c = base - base_mean, shift - shift_mean
        var = base_c.square().mean(dim=0) + share @ shift_c.square()
        scale = self.weight * torch.rsqrt(var + self.eps)
        self._track(base_mean + shift_mean, var, weight.sum() * base.shape[0])
        return (shift_c * scale)[:, None] + (base_c * scale + self.bias)[None]

    def _track(self, mean: torch.Tensor, var: torch.Tensor, total: torch.Tensor) -> None:
        """Update the running statistics with a batch of ``total`` rows (unbiased variance)."""
        with torch.no_grad():
            unbiased = var * total / (total - 1.0).clamp(min=1.0)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(unbiased, self.momentum)
            self.num_batches_tracked += 1


class _MLP(nn.Module):
    """GEARS's MLP: Linear → BN → ReLU between layers, Linear → BN last."""

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.norms = nn.ModuleList(_BatchNorm(b) for b in sizes[1:])

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        for i, (linear, norm) in enumerate(zip(self.linears, self.norms, strict=True)):
            x = norm(linear(x), weight)
            if i < len(self.linears) - 1:
                x = torch.relu(x)
        return x


class _SGConv(nn.Module):
    """One-hop simplified graph convolution ``Linear(Â E)``."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        return self.linear(torch.sparse.mm(adjacency, x))


def _xavier(gears_shape: tuple[int, ...], shape: tuple[int, ...]) -> nn.Parameter:
    """A parameter of ``shape`` with the Xavier-normal values GEARS draws for its parameter of
    ``gears_shape`` (the same values with GEARS's singleton broadcasting axes dropped)."""
    return nn.Parameter(nn.init.xavier_normal_(torch.empty(*gears_shape)).reshape(shape))


class _GEARSNet(nn.Module):
    def __init__(
        self,
        n_genes: int,
        n_nodes: int,
        hidden: int,
        n_gene_layers: int,
        n_pert_layers: int,
        coexpression: torch.Tensor,
        perturbation: sp.csr_matrix,
    ) -> None:
        super().__init__()
        self.n_genes = n_genes
        # GEARS's nn.Embedding(max_norm=1) tables; forward renormalises them (renorm_rows_)
        self.gene_emb = nn.Embedding(n_genes, hidden)
        self.pos_emb = nn.Embedding(n_genes, hidden)
        self.pert_emb = nn.Embedding(n_nodes, hidden)
        self.bn_emb = _BatchNorm(hidden)
        self.gene_layers = nn.ModuleList(_SGConv(hidden) for _ in range(n_gene_layers))
        self.pert_layers = nn.ModuleList(_SGConv(hidden) for _ in range(n_pert_layers))
        self.emb_trans = _MLP([hidden, hidden, hidden])
        self.pert_fuse = _MLP([hidden, hidden, hidden])
        self.bn_pert_base = _BatchNorm(hidden)
        self.recovery = _MLP([hidden, 2 * hidden, hidden])
        self.w1 = _xavier((n_genes, hidden, 1), (n_genes, hidden))
        self.b1 = _xavier((n_genes, 1), (n_genes,))
        self.cross_gene = _MLP([n_genes, hidden, hidden])
        self.w2 = _xavier((1, n_genes, hidden + 1), (n_genes, hidden + 1))
        self.b2 = _xavier((1, n_genes), (n_genes,))
        self.register_buffer("coexpression", coexpression, persistent=False)
        self.perturbation = perturbation  # Â of the perturbation graph (scipy, sliced per call)
        self._plan: tuple[torch.Tensor, list[torch.Tensor], torch.Tensor] | None = None
        # after split_table: the rows the training targets read, trained as ``read_table``; the
        # other rows of ``pert_emb`` keep their initial values and are replayed (_replay)
        self.register_parameter("read_table", None)
        self.register_buffer("table_steps", torch.zeros((), dtype=torch.long))
        self.table_lrs: list[float] = []
        self._replay_optimiser: Callable[..., torch.optim.Optimizer] | None = None
        self._replayed: tuple[int, dict[int, torch.Tensor]] = (-1, {})

    def _propagate(self, x: torch.Tensor, layers: nn.ModuleList, adj: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(layers):
            x = layer(x, adj)
            if i < len(layers) - 1:
                x = torch.relu(x)
        return x

    def plan_rows(self, nodes: torch.Tensor) -> None:
        """Prepare, once, the convolution blocks of the neighbourhoods of every target in
        ``nodes`` (``-1`` pads; the training perturbations): ``_perturbation_sums`` then reuses
        them for any rows of those targets instead of slicing the graph at each step. The rows of
        the other targets of the plan are computed as well, but nothing reads them, so the values
        and gradients are those of the batch's own neighbourhoods."""
        self._plan = self._blocks(nodes[nodes >= 0])

    def split_table(self, optimiser: Callable[..., torch.optim.Optimizer]) -> None:
        """Train only the rows of ``pert_emb`` that the planned targets read (``plan_rows``) as
        the parameter ``read_table``. No training step reads the other rows, so their gradient is
        0 and the optimiser changes them by weight decay alone, a recurrence that does not depend
        on the data; ``_replay`` runs it (``optimiser([rows], lr=…)``, the training optimiser's
        settings) for the rows a query reads, over the learning rates of the steps taken
        (``record_step``), at the cost of those rows instead of the whole table at every step."""
        if self._plan is None:
            raise ModelError("gears: split_table needs plan_rows first.")
        rows = self._plan[0]
        self.read_table = nn.Parameter(self.pert_emb.weight.detach()[rows].clone())
        self.pert_emb.weight.requires_grad_(False)
        self._read_index = torch.full(
            (self.pert_emb.num_embeddings,), -1, dtype=torch.long, device=rows.device
        )
        self._read_index[rows] = torch.arange(rows.numel(), device=rows.device)
        self._replay_optimiser = optimiser

    def record_step(self, lr: float) -> None:
        """Count an optimiser step (at learning rate ``lr``) in which ``read_table`` had a
        gradient: a step in which the whole table would have been updated."""
        if self.read_table is not None and self.read_table.grad is not None:
            self.table_lrs[int(self.table_steps) :] = [lr]
            self.table_steps += 1

    def _table_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """The current (renormalised) embedding rows ``rows`` of the perturbation table."""
        if self.read_table is None:
            return self.pert_emb.weight[rows]
        local = self._read_index[rows]
        if bool((local >= 0).all()):
            return self.read_table[local]
        if self.training:
            raise ModelError("gears: a training step read a row outside the planned targets.")
        out = torch.empty(rows.numel(), self.pert_emb.embedding_dim, device=rows.device)
        out[local >= 0] = self.read_table[local[local >= 0]].detach()
        out[local < 0] = self._replay(rows[local < 0])
        return out

    def prepare_rows(self, nodes: torch.Tensor) -> None:
        """Replay at once the rows outside the training neighbourhoods that the targets in
        ``nodes`` read (one replay for all queries instead of one per query)."""
        used = nodes[nodes >= 0]
        if self.read_table is None or used.numel() == 0:
            return
        hops = propagation_rows(self.perturbation, used.cpu().numpy(), len(self.pert_layers))
        rows = torch.from_numpy(hops[-1]).to(used.device)
        unread = rows[self._read_index[rows] < 0]
        if unread.numel():
            self._replay(unread)

    def _replay(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows that no training step read, as the training would have left them: from their
        initial values, at each recorded step ``renorm_rows_`` (the forward pass) then an
        optimiser step with a zero gradient, and the forward pass's renormalisation last."""
        steps = int(self.table_steps)
        if self._replayed[0] != steps:
            self._replayed = (steps, {})
        done = self._replayed[1]
        missing = [r for r in rows.tolist() if r not in done]
        if missing:
            assert self._replay_optimiser is not None
            with torch.enable_grad():
                values = nn.Parameter(self.pert_emb.weight.detach()[missing].clone())
                optimiser = self._replay_optimiser([values], lr=self.table_lrs[0] if steps else 0)
                for lr in self.table_lrs[:steps]:
                    renorm_rows_(values)
                    values.grad = torch.zeros_like(values)
                    for group in optimiser.param_groups:
                        group["lr"] = lr
                    optimiser.step()
            renorm_rows_(values)
            done.update(zip(missing, values.detach(), strict=True))
        return torch.stack([done[r] for r in rows.tolist()])

    def _blocks(self, used: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """For the targets ``used``: the embedding rows read, the sparse convolution block of each
        layer and each node's output row (``len(rows)``, the zero row, for the others and the
        ``-1`` pad)."""
        device = used.device
        hops = propagation_rows(self.perturbation, used.cpu().numpy(), len(self.pert_layers))
        blocks = [  # layer i maps hops[-1 - i] to hops[-2 - i]
            sparse_tensor(self.perturbation[hops[-2 - i]][:, hops[-1 - i]]).to(device)
            for i in range(len(self.pert_layers))
        ]
        position = torch.full(
            (self.pert_emb.num_embeddings + 1,), len(hops[0]), dtype=torch.long, device=device
        )  # a node's row of x; the last entry (index -1, padding) points at the zero row
        position[torch.from_numpy(hops[0]).to(device)] = torch.arange(len(hops[0]), device=device)
        return torch.from_numpy(hops[-1]).to(device), blocks, position

    def _perturbation_sums(self, nodes: torch.Tensor) -> torch.Tensor:
        """``Σ_{t ∈ T_p} q_t`` for each row of ``nodes`` (``-1`` pads), ``q = SG_pert(E_pert)``
        computed on the rows that the used targets read only (``propagation_rows``; those of the
        planned targets, ``plan_rows``, when they include these): the same values as the
        convolution of the whole graph, at the cost of the targets' neighbourhoods instead of
        every node of the (GO) graph."""
        hidden = self.pert_emb.embedding_dim
        used = nodes[nodes >= 0]
        if used.numel() == 0:
            return torch.zeros(nodes.shape[0], hidden, device=nodes.device)
        plan = self._plan
        if plan is None or bool((plan[2][used] == plan[2][-1]).any()):
            plan = self._blocks(used)  # a target outside the plan
        rows, blocks, position = plan
        x = self._table_rows(rows)
        for i, (layer, block) in enumerate(zip(self.pert_layers, blocks, strict=True)):
            x = layer(x, block)
            if i < len(self.pert_layers) - 1:
                x = torch.relu(x)
        table = torch.cat([x, x.new_zeros(1, hidden)])
        return table[position[nodes]].sum(dim=1)

    def forward(self, nodes: torch.Tensor, counts: torch.Tensor | None = None) -> torch.Tensor:
        """The predicted change ``Δ`` (perturbations × genes) of perturbations given as rows of
        graph-node indices (``-1`` pads); ``counts``: each row's number of cells in the batch (the
        batch-normalisation weights; training only)."""
        device = self.w1.device
        n = nodes.shape[0]
        if counts is None:
            counts = torch.ones(n, device=device)
        gene_weight = counts.sum().expand(self.n_genes)  # every cell repeats the gene rows
        tables = [self.gene_emb.weight, self.pos_emb.weight]  # every row is looked up
        tables.append(self.pert_emb.weight if self.read_table is None else self.read_table)
        for table in tables:  # (the other rows of a split table: _replay)
            renorm_rows_(table)
        base = torch.relu(self.bn_emb(self.gene_emb.weight, gene_weight))
        pos = self._propagate(self.pos_emb.weight, self.gene_layers, self.coexpression)
        base = self.emb_trans(base + POS_WEIGHT * pos, gene_weight)  # (G, H)

        summed = self._perturbation_sums(nodes)
        has_target = (nodes >= 0).any(dim=1)
        fused = torch.zeros_like(summed)
        if has_target.any():
            fused[has_target] = self.pert_fuse(summed[has_target], counts[has_target])

        h = torch.relu(self.bn_pert_base.forward_sum(base, fused, counts)).flatten(0, 1)
        h = self.recovery(h, counts.repeat_interleave(self.n_genes)).unflatten(0, (n, -1))
        out = (h * self.w1).sum(dim=2) + self.b1  # gene-specific layer (einsum is slower)
        cross = self.cross_gene(out, counts)  # (n, H)
        return out * self.w2[:, 0] + cross @ self.w2[:, 1:].T + self.b2


# -- model ----------------------------------------------------------------------------------------


class GEARS(DeepModel):
    """GEARS (Roohani, Huang & Leskovec 2024): GNN gene and perturbation embeddings and
    gene-specific decoders predicting the change from control (module docstring).

    ``go_terms``: gene → GO-term table (DataFrame or ``.csv``/``.parquet`` with columns ``gene``,
    ``go_term``; ``"auto"``: the shipped annotations when they annotate a training target;
    ``"shipped"``: always them) for the perturbation graph; ``embedding`` (an embedding table) is the fallback
    graph without it. The other parameters are GEARS's (module docstring) and the common ones.
    """

    refit_after_selection = False  # GEARS keeps its best validation epoch

    name = "gears"

    featurised = False  # perturbations are nodes of its GO graph, not its one-hot features

    def __init__(
        self,
        hidden_size: int = 64,
        num_go_gnn_layers: int = 1,
        num_gene_gnn_layers: int = 1,
        num_similar_genes_go_graph: int = 20,
        num_similar_genes_co_express_graph: int = 20,
        coexpress_threshold: float = 0.4,
        go_terms: GoTermSource | None = "auto",
        go_threshold: float = 0.1,
        gamma: float = 2.0,
        direction_lambda: float = 0.1,
        lr_decay: float = 0.5,
        features: FeatureKind = "onehot",
        embedding: EmbeddingSource | None = None,
        n_components: int = 10,
        n_epochs: int = 20,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 5e-4,
        patience: int | None = None,
        validation_fraction: float = 0.1,
        max_cells: int | None = 500,
        seed: int = 0,
        device: str = "cpu",
        n_threads: int | None = 1,
        selection: SelectionKind = "effect",
        validation_perturbations: float = 0.2,
        predict_effect: bool | Literal["auto"] = "auto",
    ) -> None:
        self.hidden_size = hidden_size
        self.num_go_gnn_layers = num_go_gnn_layers
        self.num_gene_gnn_layers = num_gene_gnn_layers
        self.num_similar_genes_go_graph = num_similar_genes_go_graph
        self.num_similar_genes_co_express_graph = num_similar_genes_co_express_graph
        self.coexpress_threshold = coexpress_threshold
        self.go_terms = go_terms
        self.go_threshold = go_threshold
        self.gamma = gamma
        self.direction_lambda = direction_lambda
        self.lr_decay = lr_decay
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

    # -- setup ------------------------------------------------------------------------------------

    def _perturbation_graph(self, data: TrainingData) -> tuple[list[str], sp.csr_matrix]:
        """The nodes and weights of the perturbation graph (GO, embedding or co-expression)."""
        k = self.num_similar_genes_go_graph
        table = shipped_if_it_covers(self.go_terms, data.labels)
        if table is not None:
            self.perturbation_graph_ = "go"
            return jaccard_graph(table, k, self.go_threshold)
        if self.embedding is not None:
            fallback, self.perturbation_graph_ = "the embedding table's cosine graph", "embedding"
        else:
            fallback, self.perturbation_graph_ = "the gene co-expression graph", "coexpression"
        warnings.warn(
            f"gears: no gene-ontology table (parameter go_terms); the perturbation graph is "
            f"{fallback}.",
            stacklevel=4,
        )
        if self.embedding is not None:
            return cosine_graph(load_embedding(self.embedding), k)
        return [str(g) for g in self.genes_], self.coexpression_graph_

    def _node_of(self, target: str) -> int | None:
        """The graph node of a target: by its name, else (GO graph) by its gene symbol."""
        if target in self.node_index_:
            return self.node_index_[target]
        if self.perturbation_graph_ == "go":
            return self.node_index_.get(gene_symbol(target) or "")
        return None

    def represents_target(self, target: str) -> bool:
        """Whether ``target`` has a perturbation embedding: it is a node of the perturbation graph
        (the representation coverage of ``vcbench.runner.coverage``)."""
        return self._node_of(target) is not None

    def _node_index(self, perturbations: list[str]) -> torch.Tensor:
        """Graph-node indices of each perturbation's targets (rows padded with -1; targets outside
        the graph dropped)."""
        rows = [
            [i for t in c.split_combination(p) if (i := self._node_of(t)) is not None]
            for p in perturbations
        ]
        width = max([1, *(len(r) for r in rows)])
        out = torch.full((len(rows), width), -1, dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return out

    def _setup(self, data: TrainingData) -> None:
        if self.hidden_size < 1 or self.gamma < 0 or not 0 < self.lr_decay <= 1:
            raise ModelError(
                "gears: hidden_size must be positive, gamma ≥ 0 and lr_decay in (0, 1]."
            )
        n_targets = np.array([len(c.split_combination(p)) for p in data.labels] + [0])
        cells = data.train_cells.numpy()
        cells = cells[n_targets[data.condition.numpy()[cells]] <= 1]  # controls and singles
        self.coexpression_graph_ = coexpression_graph(
            data.x[cells].numpy(),
            self.num_similar_genes_co_express_graph,
            self.coexpress_threshold,
            groups=data.context[cells].numpy() if data.n_contexts > 1 else None,
        )
        nodes, weights = self._perturbation_graph(data)
        self.node_index_ = {name: i for i, name in enumerate(nodes)}
        targets = sorted(
            t
            for t in {t for p in data.labels for t in c.split_combination(p)}
            if self._node_of(t) is None
        )
        self.perturbation_nodes_ = [*nodes, *targets]  # training targets outside the graph
        self.node_index_ = {name: i for i, name in enumerate(self.perturbation_nodes_)}
        n_nodes = len(self.perturbation_nodes_)
        if targets:
            weights = sp.block_diag([weights, sp.csr_matrix((len(targets), len(targets)))])
        self.perturbation_weights_ = sp.csr_matrix(weights)

        device = torch.device(self.device)
        self.condition_nodes_ = self._node_index([*data.labels, c.CONTROL]).to(device)
        # genes kept in the loss: non-zero mean in the condition's cells (all genes for controls)
        sums = torch.zeros(data.n_perturbations + 1, data.n_genes).index_add_(
            0, data.condition, data.x
        )
        self.gene_mask_ = (sums != 0).to(device)
        self.gene_mask_[-1] = True
        controls = data.train_cells[data.is_control[data.train_cells]]
        ctrl_sum = torch.zeros(data.n_contexts, data.n_genes).index_add_(
            0, data.context[controls], data.x[controls]
        )
        ctrl_n = torch.bincount(data.context[controls], minlength=data.n_contexts)
        self.control_means_ = (ctrl_sum / ctrl_n.clamp(min=1)[:, None]).to(device)
        # fixed validation pairs, so that the validation loss is comparable across epochs
        val = data.val_cells
        self.val_partner_ = torch.where(
            data.is_control[val], val, data.random_controls(val, self.generator_)
        )
        self.net_ = _GEARSNet(
            data.n_genes,
            n_nodes,
            self.hidden_size,
            self.num_gene_gnn_layers,
            self.num_go_gnn_layers,
            sgconv_matrix(self.coexpression_graph_),
            sgconv_propagation(self.perturbation_weights_),
        ).to(device)
        self.net_.plan_rows(self.condition_nodes_)
        # fused: one kernel per parameter, the same update
        adam = partial(torch.optim.Adam, weight_decay=self.weight_decay, fused=True)
        self.net_.split_table(adam)
        self.optimiser_ = adam([p for p in self.net_.parameters() if p.requires_grad], lr=self.lr)

    # -- training ---------------------------------------------------------------------------------

    def _loss(self, cells: torch.Tensor, partners: torch.Tensor) -> torch.Tensor | None:
        """GEARS's loss of ``cells`` paired with control cells ``partners`` (None when no cell
        has a control: its context has no training controls)."""
        data = self.data_
        usable = data.is_control[cells] | data.has_controls(cells)
        cells, partners = cells[usable], partners[usable]
        if cells.numel() == 0:
            return None
        device = torch.device(self.device)
        condition = data.condition[cells]
        unique, inverse, counts = torch.unique(condition, return_inverse=True, return_counts=True)
        delta = self.net_(
            self.condition_nodes_[unique.to(device)],
            counts.to(device=device, dtype=torch.float32) if self.net_.training else None,
        )
        pred = data.x[partners].to(device) + delta[inverse.to(device)]
        return gears_loss(
            pred,
            data.x[cells].to(device),
            self.control_means_[data.context[cells].to(device)],
            condition.to(device),
            self.gene_mask_[condition.to(device)],
            self.gamma,
            self.direction_lambda,
        )

    def _training_step(self, batch: torch.Tensor, epoch: int) -> float:
        for group in self.optimiser_.param_groups:
            group["lr"] = self.lr * self.lr_decay**epoch
        data = self.data_
        partners = torch.where(
            data.is_control[batch], batch, data.random_controls(batch, self.generator_)
        )
        loss = self._loss(batch, partners)
        if loss is None:
            return 0.0
        self.optimiser_.zero_grad()
        loss.backward()
        nn.utils.clip_grad_value_(self.net_.parameters(), GRAD_CLIP)
        self.optimiser_.step()
        self.net_.record_step(self.optimiser_.param_groups[0]["lr"])
        return float(loss.detach())

    def _validation_loss(self, cells: torch.Tensor) -> float:
        loss = self._loss(cells, self.val_partner_)
        return 0.0 if loss is None else float(loss)

    # -- prediction -------------------------------------------------------------------------------

    def _prepare_prediction(self, queries: Queries) -> None:
        perturbations = queries.conditions[c.PERTURBATION].astype(str).unique().tolist()
        self.net_.prepare_rows(self._node_index(perturbations).to(torch.device(self.device)))

    def _predict_cells(self, x0: torch.Tensor, inputs: ConditionInputs) -> torch.Tensor:
        device = torch.device(self.device)
        delta = self.net_(self._node_index([inputs.perturbation]).to(device))
        return x0.to(device) + delta
