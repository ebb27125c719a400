"""``gears_official``: the authors' GEARS package (``cell-gears``) behind vcbench's model contract.

GEARS (Roohani, Huang & Leskovec, Nature Biotechnology 2024; github.com/snap-stanford/GEARS)
predicts the expression after a single or double gene perturbation from a gene co-expression graph
and a gene-ontology (GO) graph over the perturbable genes. This adapter trains the package's own
code (``gears.PertData``, ``gears.GEARS``, ``GEARS_Model``, its loss and training loop) on
vcbench's training cells; ``vcbench.models.deep.gears`` is vcbench's own reimplementation.

Extra: ``pip install "vcbench[gears]"``, i.e. ``torch==2.13.0``, ``cell-gears==0.1.2``,
``torch-geometric==2.8.1`` (GEARS imports it but does not declare it) and ``pandas<3`` (GEARS reads
``Series[0]`` positionally on a string index, which pandas 3 refuses); tested on Python 3.11 with
torch 2.13.0 CPU, scipy 1.17, numpy 2.4, pandas 2.3, anndata 0.12, scanpy 1.11. Install with a
constraints file holding ``torch==2.13.0`` so that pip keeps that torch. Without the package,
importing this module raises a ``ModelError`` naming the extra. Importing ``gears`` takes about
15-20 s (``dcor`` compiles numba code at import).

What ``fit`` does:

1. converts the training cells to GEARS's format: ``obs["condition"]`` ``"A+ctrl"`` for a single,
   ``"A+B"`` for a double, ``"ctrl"`` for controls, ``obs["cell_type"]`` and
   ``var["gene_name"]`` (the var names); ``X`` sparse (GEARS calls ``.toarray()`` on its rows);
2. writes, in a temporary directory that is deleted after ``fit``, the gene→GO file GEARS reads
   (``gene2go_all.pkl``, gene → set of GO terms) and the split file (``split='custom'``), and runs
   ``PertData.new_data_process`` there (differential-expression ranking, the cell graphs);
3. builds the GO graph exactly as GEARS's ``make_GO`` does (edge ``s → t`` weighted by the
   Jaccard index of the genes' GO-term sets when it exceeds 0.1; each target keeps its
   ``num_similar_genes_go_graph + 1`` strongest sources) and hands it to
   ``GEARS.model_initialize`` (``G_go``, ``G_go_weight``); GEARS builds the co-expression graph
   itself from the training controls and singles;
4. trains with ``GEARS.train`` (Adam, learning rate halved every epoch, GEARS's loss; GEARS keeps
   the epoch with the lowest top-20-DE MSE on its validation perturbations).

``predict``: GEARS's output for a control cell ``x`` is ``x + Δ(p)`` with ``Δ`` independent of
``x`` (``x`` only enters as the final residual; batch normalisation uses its running statistics at
prediction). ``Δ(p)`` is computed once per query perturbation with the trained model on GEARS's
own prediction graph (``create_cell_graph_for_prediction``) and added to the query context's
control cells (``predict_by_shift``, at most ``max_cells`` per condition, a seeded subsample):
these are the cells GEARS would return if given those control cells.

Workarounds, and why:

- No downloads. GEARS downloads ``gene2go_all.pkl``, ``essential_all_data_pert_genes.pkl`` and
  ``go_essential_all`` from Harvard Dataverse. The adapter writes ``gene2go_all.pkl`` itself (then
  GEARS finds a "local copy"), passes ``default_pert_graph=False`` with a ``gene_set_path`` it
  writes (so the gene-set file is not fetched), and builds the GO graph itself: GEARS's
  ``make_GO`` reads and writes ``./data/go_essential_<name>.csv`` relative to the working
  directory (a stale file there would be reused silently; a missing ``./data`` folder fails) and
  starts a pool of 25 processes. The gene→GO table comes from ``go_terms`` (a CSV/parquet file
  or a DataFrame with columns ``gene`` and ``go_term``, e.g. GEARS's own ``gene2go_all.pkl``
  flattened, or an Ensembl/GOA export). Without one, a warning says so and each measured gene's
  "terms" are its co-expression neighbours in the training data (the ``k + 1`` genes of largest
  absolute Pearson correlation over the training controls and singles, itself included, with
  ``|r| > coexpress_threshold``): the GO graph becomes a graph of shared co-expression
  neighbourhoods, and only measured genes can be perturbation targets.
- Sparse masks. ``GEARS.__init__`` indexes the sparse ``X`` with a pandas boolean Series, which
  current scipy (1.17) rejects (``'Series' object has no attribute 'nonzero'``). During that call
  the adapter gives the AnnData a ``csr_matrix`` subclass that turns pandas masks into numpy
  arrays, and restores a plain ``csr_matrix`` right after. The package on disk is not patched.
- GEARS calls ``warnings.filterwarnings("ignore")`` and sets scanpy's verbosity to 0 when
  imported; the adapter imports it inside ``warnings.catch_warnings()`` and restores scanpy's
  verbosity, so that vcbench's (and the user's) warnings stay visible.
- Training perturbations with a target not in the GO graph are dropped with a warning (GEARS's
  ``PertData.load`` drops them; ``new_data_process`` would silently train them as controls), and
  so are those with more than two targets (GEARS's condition format has two slots). A query
  perturbation with a target not in the GO graph raises a ``ModelError`` naming the targets.

Differences from running GEARS directly:

- GEARS has no context input: the training cells of every context are pooled as one cell type
  (controls included, as GEARS's own data are one cell line); each query's effect is added to the
  control cells of the query's own context.
- Validation: GEARS's own splits hold out perturbations for picking the best epoch. With
  ``val_fraction=0`` (default) the validation set is the training perturbations themselves
  (nothing is held out; the best epoch by training DE MSE); with ``val_fraction > 0`` a seeded
  fraction of the training perturbations (at least one) is held out of training for it.
- The GO graph is computed in-process (vectorised; the same edges as GEARS's ``make_GO``) and
  the perturbation graph holds every gene of ``go_terms`` (GEARS's default uses its list of
  essential genes), so that any gene of the table can be queried.
- Determinism: torch and numpy are seeded inside ``fit`` (``torch.random.fork_rng``, numpy's global
  state saved and restored), so two fits in one process predict the same on CPU. GEARS's loss sums
  over ``set(perturbations)``, whose order depends on Python's string hashing: across processes
  results can differ in the last bits unless ``PYTHONHASHSEED`` is fixed.
- GEARS prints its progress; it is captured unless ``verbose=True``.

On the bundled demo (K562 combination split, 500 genes) only one of the 14 training targets
(TMSB4X) is measured: without ``go_terms`` the other 13 training perturbations are dropped with a
warning and ``predict`` refuses all 19 query perturbations, naming their 22 targets.

Parameters (defaults are GEARS's unless noted): ``go_terms="auto"`` (vcbench's: the shipped
org.Hs.eg.db 2022 annotations of ``vcbench.knowledge`` when they annotate a training target, matched
by name; ``"shipped"`` always; None never); ``n_epochs=20``;
``batch_size=32`` (GEARS's tutorial); ``lr=1e-3``; ``weight_decay=5e-4``; ``hidden_size=64``;
``num_go_gnn_layers=1``; ``num_gene_gnn_layers=1``; ``decoder_hidden_size=16``;
``num_similar_genes_go_graph=20``; ``num_similar_genes_co_express_graph=20``;
``coexpress_threshold=0.4``; ``direction_lambda=0.1``; and vcbench's ``val_fraction=0.0``,
``max_cells=500``, ``seed=0``, ``device="cpu"``, ``n_threads=1`` (torch CPU threads in fit and
predict; ``None`` = torch's default), ``verbose=False``.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.knowledge.go_graph import GoTermSource, shipped_if_it_covers
from vcbench.models.adapters.gears_format import (
    GEARS_CONTROL,
    JACCARD_THRESHOLD,
    TrainingConditions,
    coexpression_go_terms,
    custom_split,
    gears_frame,
    go_graph_edges,
    load_go_terms,
    training_conditions,
)
from vcbench.models.base import PerturbationModel, Queries, predict_by_shift
from vcbench.models.torch_utils import torch_threads

try:
    import scanpy as _sc

    _verbosity = _sc.settings.verbosity
    with warnings.catch_warnings():  # gears calls warnings.filterwarnings("ignore") on import
        import gears as _gears  # noqa: F401
        from gears import GEARS as _GEARS
        from gears import PertData as _PertData
        from gears.utils import GeneSimNetwork as _GeneSimNetwork
        from gears.utils import create_cell_graph_for_prediction as _cell_graph_for_prediction
        from torch_geometric.loader import DataLoader as _DataLoader
    _sc.settings.verbosity = _verbosity  # and sets scanpy's verbosity to 0
except ModuleNotFoundError as exc:  # pragma: no cover - exercised without the extra
    raise ModelError(
        f"Model 'gears_official' needs the optional dependency {exc.name!r}: "
        'pip install "vcbench[gears]".'
    ) from exc

__all__ = [
    "GEARS_CONTROL",
    "JACCARD_THRESHOLD",
    "GEARSOfficial",
    "coexpression_go_terms",
    "go_graph_edges",
    "load_go_terms",
]
_DATASET_NAME = "vcbench"


# --------------------------------------------------------------------------- helpers


class _MaskableCSR(sp.csr_matrix):
    """A ``csr_matrix`` that accepts pandas boolean masks (GEARS.__init__ indexes with one)."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, pd.Series | pd.Index):
            key = key.to_numpy()
        return super().__getitem__(key)


@contextlib.contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global generator (GEARS draws control partners with it) and restore it."""
    state = np.random.get_state()  # noqa: NPY002 - GEARS uses the legacy global generator
    np.random.seed(seed)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[io.StringIO]:
    """Capture GEARS's prints (stdout, stderr) and silence its known warnings unless ``verbose``:
    torch_geometric's ``data.DataLoader`` deprecation, pandas's positional ``Series[0]``
    deprecation and anndata's view-modification warning from GEARS's DE ranking."""
    log = io.StringIO()
    if verbose:
        yield log
        return
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        warnings.filterwarnings("ignore", module=r"gears(\..*)?$")
        warnings.filterwarnings("ignore", category=ad.ImplicitModificationWarning)
        yield log


def _summary(items: list[str], n: int = 8) -> str:
    shown = ", ".join(items[:n])
    return f"{shown}, … ({len(items)} in all)" if len(items) > n else shown


class GEARSOfficial(PerturbationModel):
    """The authors' GEARS package behind the model contract (see the module docstring)."""

    name = "gears_official"

    def __init__(
        self,
        go_terms: GoTermSource | None = "auto",
        n_epochs: int = 20,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 5e-4,
        hidden_size: int = 64,
        num_go_gnn_layers: int = 1,
        num_gene_gnn_layers: int = 1,
        decoder_hidden_size: int = 16,
        num_similar_genes_go_graph: int = 20,
        num_similar_genes_co_express_graph: int = 20,
        coexpress_threshold: float = 0.4,
        direction_lambda: float = 0.1,
        val_fraction: float = 0.0,
        max_cells: int | None = 500,
        seed: int = 0,
        device: str = "cpu",
        n_threads: int | None = 1,
        verbose: bool = False,
    ) -> None:
        self.go_terms = go_terms
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.hidden_size = hidden_size
        self.num_go_gnn_layers = num_go_gnn_layers
        self.num_gene_gnn_layers = num_gene_gnn_layers
        self.decoder_hidden_size = decoder_hidden_size
        self.num_similar_genes_go_graph = num_similar_genes_go_graph
        self.num_similar_genes_co_express_graph = num_similar_genes_co_express_graph
        self.coexpress_threshold = coexpress_threshold
        self.direction_lambda = direction_lambda
        self.val_fraction = val_fraction
        self.max_cells = max_cells
        self.seed = seed
        self.device = device
        self.n_threads = n_threads
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    def fit(self, train: ad.AnnData) -> Self:
        if self.n_epochs < 1 or self.batch_size < 2 or self.lr <= 0:
            raise ModelError(
                f"{self.name}: n_epochs must be at least 1, batch_size at least 2 (GEARS uses "
                "batch normalisation) and lr positive."
            )
        if not 0.0 <= self.val_fraction < 1.0:
            raise ModelError(
                f"{self.name}: val_fraction must be in [0, 1), got {self.val_fraction}."
            )
        genes = [str(g) for g in train.var_names]
        obs = train.obs
        is_control = obs[c.IS_CONTROL].to_numpy(dtype=bool)
        labels = obs[c.PERTURBATION].astype(str).to_numpy()
        if not is_control.any():
            raise ModelError(
                f"{self.name} needs training control cells; the training set has none."
            )
        x = train.X
        x = (
            sp.csr_matrix(x, dtype=np.float32)
            if sp.issparse(x)
            else sp.csr_matrix(np.asarray(x, dtype=np.float32))
        )

        gene2go = self._gene2go(x, genes, labels, is_control)
        kept = self._training_conditions(labels, is_control, gene2go)
        # the perturbable genes: every gene with terms (GEARS keeps those of its gene set that the
        # gene→GO file knows)
        gene_set = sorted(set(gene2go))
        data = gears_frame(x, genes, kept)
        set2conditions = custom_split(
            data.obs["condition"], self.val_fraction, self.seed, self.name
        )

        with (
            tempfile.TemporaryDirectory(prefix="vcbench-gears-") as workdir,
            torch.random.fork_rng(devices=[]),
            _numpy_seed(self.seed),
            torch_threads(self.n_threads),
            _quiet(self.verbose) as log,
        ):
            torch.manual_seed(self.seed)
            try:
                self._fit_in(Path(workdir), data, gene2go, gene_set, set2conditions)
            except ModelError:
                raise
            except Exception as exc:
                tail = log.getvalue()[-2000:]
                raise ModelError(
                    f"{self.name}: GEARS failed during fit: {type(exc).__name__}: {exc}"
                    + (f"\nGEARS's output ended with:\n{tail}" if tail else "")
                ) from exc
        self.genes_ = pd.Index(genes)
        return self

    def _gene2go(
        self, x: sp.csr_matrix, genes: list[str], labels: np.ndarray, is_control: np.ndarray
    ) -> dict[str, set[str]]:
        table = shipped_if_it_covers(self.go_terms, list(np.unique(labels[~is_control])))
        if table is not None:
            self.go_source_ = "go_terms"
            return load_go_terms(table)
        warnings.warn(
            f"{self.name}: no go_terms table was given, so GEARS's GO graph is built from the "
            "co-expression of the training cells and only measured genes can be perturbation "
            "targets. Pass go_terms= (a table with columns gene, go_term) for GEARS's GO graph.",
            UserWarning,
            stacklevel=3,
        )
        self.go_source_ = "coexpression"
        # GEARS's co-expression graph uses the training controls and single perturbations
        n_targets = np.array([len(c.split_combination(p)) for p in labels])
        rows = is_control | (n_targets == 1)
        return coexpression_go_terms(
            x[rows].toarray(),
            genes,
            self.num_similar_genes_go_graph,
            self.coexpress_threshold,
        )

    def _training_conditions(
        self, labels: np.ndarray, is_control: np.ndarray, gene2go: dict[str, set[str]]
    ) -> TrainingConditions:
        """Which training cells GEARS can use, and their GEARS condition labels; a warning names
        the perturbations dropped, an error says when none is left."""
        kept = training_conditions(labels, is_control, gene2go)
        if not kept.usable:
            n_unique = len(kept.not_in_graph) + len(kept.too_many)
            raise ModelError(
                f"{self.name}: GEARS can embed none of the {n_unique} training perturbations: "
                f"their targets are not in its gene/GO graph ({self.go_source_}): "
                f"{_summary(kept.missing)}."
                + (
                    " Without go_terms only measured genes can be targets; pass go_terms= "
                    "(a table with columns gene, go_term) that covers the targets."
                    if self.go_source_ == "coexpression"
                    else " Use a go_terms table that covers the targets."
                )
            )
        if kept.not_in_graph or kept.too_many:
            message = [f"{self.name}: GEARS cannot train on every training perturbation;"]
            if kept.not_in_graph:
                message.append(
                    f"{len(kept.not_in_graph)} are dropped because their targets are not in the "
                    f"gene/GO graph ({self.go_source_}): {_summary(kept.missing)}."
                )
            if kept.too_many:
                message.append(
                    f"{len(kept.too_many)} with more than two targets are dropped: "
                    f"{_summary(kept.too_many)}."
                )
            warnings.warn(" ".join(message), UserWarning, stacklevel=3)
        self.dropped_perturbations_ = sorted(kept.not_in_graph + kept.too_many)
        return kept

    def _fit_in(
        self,
        workdir: Path,
        data: ad.AnnData,
        gene2go: dict[str, set[str]],
        gene_set: list[str],
        set2conditions: dict[str, list[str]],
    ) -> None:
        # the files GEARS reads instead of downloading them
        with open(workdir / "gene2go_all.pkl", "wb") as handle:
            pickle.dump(gene2go, handle)
        with open(workdir / "gene_set.pkl", "wb") as handle:
            pickle.dump(gene_set, handle)
        with open(workdir / "split.pkl", "wb") as handle:
            pickle.dump(set2conditions, handle)

        pert_data = _PertData(
            str(workdir), gene_set_path=str(workdir / "gene_set.pkl"), default_pert_graph=False
        )
        pert_data.new_data_process(dataset_name=_DATASET_NAME, adata=data)
        pert_data.prepare_split(split="custom", split_dict_path=str(workdir / "split.pkl"))
        # GEARS has no test set here: 'no_test' makes get_dataloader and train skip it
        pert_data.split = "no_test"
        n_train = sum(len(pert_data.dataset_processed[p]) for p in set2conditions["train"])
        pert_data.get_dataloader(batch_size=min(self.batch_size, n_train))

        plain = pert_data.adata.X
        pert_data.adata.X = _MaskableCSR(plain)  # GEARS.__init__ indexes X with a pandas mask
        try:
            model = _GEARS(pert_data, device=self.device)
        finally:
            pert_data.adata.X = sp.csr_matrix(plain)
        pert_list = list(model.pert_list)
        edges = go_graph_edges(gene2go, pert_list, self.num_similar_genes_go_graph)
        go_graph = _GeneSimNetwork(edges, pert_list, node_map=model.node_map_pert)
        model.model_initialize(
            hidden_size=self.hidden_size,
            num_go_gnn_layers=self.num_go_gnn_layers,
            num_gene_gnn_layers=self.num_gene_gnn_layers,
            decoder_hidden_size=self.decoder_hidden_size,
            num_similar_genes_go_graph=self.num_similar_genes_go_graph,
            num_similar_genes_co_express_graph=self.num_similar_genes_co_express_graph,
            coexpress_threshold=self.coexpress_threshold,
            direction_lambda=self.direction_lambda,
            G_go=go_graph.edge_index,
            G_go_weight=go_graph.edge_weight,
        )
        model.train(epochs=self.n_epochs, lr=self.lr, weight_decay=self.weight_decay)
        self.net_ = model.best_model.to(self.device).eval()
        self.pert_list_ = pert_list
        self.go_edges_ = edges
        self.control_mean_ = np.asarray(model.ctrl_expression.cpu().numpy(), dtype=np.float32)
        self.n_training_perturbations_ = len(set(data.obs["condition"]) - {GEARS_CONTROL})

    # ------------------------------------------------------------------ predict

    def effects(self, perturbations: list[str]) -> np.ndarray:
        """GEARS's ``Δ(p)`` (perturbations × genes) for vcbench labels (``A`` or ``A+B``)."""
        index = {g: i for i, g in enumerate(self.pert_list_)}
        parts = {p: c.split_combination(p) for p in perturbations}
        missing = {p: [t for t in parts[p] if t not in index] for p in perturbations}
        missing = {p: m for p, m in missing.items() if m}
        if missing:
            targets = sorted({t for m in missing.values() for t in m})
            raise ModelError(
                f"{self.name}: GEARS cannot embed the targets {_summary(targets)} of "
                f"{len(missing)} query perturbation(s) ({_summary(sorted(missing))}): they are "
                f"not in its gene/GO graph ({self.go_source_}"
                + (
                    "; without go_terms only measured genes are in it"
                    if self.go_source_ == "coexpression"
                    else "; the go_terms table has no terms for them"
                )
                + ")."
            )
        out = np.zeros((len(perturbations), len(self.genes_)), dtype=np.float32)
        rows = [i for i, p in enumerate(perturbations) if parts[p]]  # controls: no effect
        if not rows:
            return out
        graphs = [
            _cell_graph_for_prediction(
                self.control_mean_[None, :],
                [index[t] for t in parts[perturbations[i]]],
                list(parts[perturbations[i]]),
            )
            for i in rows
        ]
        with torch_threads(self.n_threads), torch.no_grad():
            batch = next(iter(_DataLoader(graphs, batch_size=len(graphs), shuffle=False)))
            predicted = self.net_(batch.to(self.device)).cpu().numpy()
        out[rows] = predicted - self.control_mean_[None, :]
        return out

    def predict(self, queries: Queries) -> ad.AnnData:
        conditions = queries.conditions.reset_index(drop=True)
        labels = conditions[c.PERTURBATION].astype(str).tolist()
        unique = sorted(set(labels))
        effects = self.effects(unique)
        position = {p: i for i, p in enumerate(unique)}
        return predict_by_shift(
            queries,
            effects[[position[p] for p in labels]],
            self.genes_,
            max_cells=self.max_cells,
            seed=self.seed,
        )
