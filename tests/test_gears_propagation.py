"""GEARS's perturbation-graph convolution on the used targets' neighbourhoods only: the same values
and gradients as the convolution of the whole graph; the vectorised embedding renormalisation
matching torch's; and the whole network (one pass per perturbation, weighted batch norm) equal to
GEARS's per-cell pass written with torch's own layers."""

from __future__ import annotations

from copy import deepcopy
from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")

from vcbench.models.deep.gears import (  # noqa: E402
    _GEARSNet,
    propagation_rows,
    renorm_rows_,
    sgconv_matrix,
    sgconv_propagation,
)


def _graph(n: int, seed: int) -> sp.csr_matrix:
    """A random weighted directed graph with about 3 in-edges per node and some isolated nodes."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n - 5, size=3 * n)  # the last 5 nodes get no in-edge
    cols = rng.integers(0, n, size=3 * n)
    return sp.csr_matrix((rng.random(3 * n), (rows, cols)), shape=(n, n))


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_neighbourhood_convolution_equals_the_whole_graph(n_layers: int) -> None:
    torch.manual_seed(0)
    n_nodes, hidden = 80, 8
    weights = _graph(n_nodes, n_layers)
    net = _GEARSNet(
        n_genes=6,
        n_nodes=n_nodes,
        hidden=hidden,
        n_gene_layers=1,
        n_pert_layers=n_layers,
        coexpression=sgconv_matrix(sp.identity(6)),
        perturbation=sgconv_propagation(weights),
    )
    nodes = torch.tensor([[3, 17], [40, -1], [-1, -1], [79, 3]])
    found = net._perturbation_sums(nodes)

    # the whole graph, densely, with the same layers: x ← Linear(Â x), ReLU between layers
    w = weights.toarray() + np.diag((weights.diagonal() == 0).astype(float))
    d = 1.0 / np.sqrt(w.sum(axis=1))
    a = torch.tensor(d[:, None] * w * d[None, :], dtype=torch.float32)
    leaves = [net.pert_emb.weight] + [p for layer in net.pert_layers for p in layer.parameters()]
    copies = [leaf.detach().clone().requires_grad_() for leaf in leaves]
    x, params = copies[0], iter(copies[1:])
    for i, _ in enumerate(net.pert_layers):
        x = torch.nn.functional.linear(a @ x, next(params), next(params))
        if i < n_layers - 1:
            x = torch.relu(x)
    table = torch.cat([x, torch.zeros(1, hidden)])
    expected = table[nodes].sum(dim=1)
    assert torch.allclose(found, expected, atol=1e-5, rtol=1e-5)
    assert torch.all(found[2] == 0)  # no target: no embedding

    # the same gradients, and they reach the embedding rows the targets read only
    probe = torch.randn_like(found)
    (found * probe).sum().backward()
    (expected * probe).sum().backward()
    for leaf, copy in zip(leaves, copies, strict=True):
        assert torch.allclose(leaf.grad, copy.grad, atol=1e-5, rtol=1e-4)
    touched = np.flatnonzero(net.pert_emb.weight.grad.abs().sum(dim=1).numpy() > 0)
    reach = (np.linalg.matrix_power((w > 0).astype(int), n_layers) > 0)[[3, 17, 40, 79]]
    assert set(touched) <= set(np.flatnonzero(reach.any(axis=0)))
    assert {3, 17, 40, 79} <= set(touched)

    # planned blocks for more targets (plan_rows) give the same values and gradients; a target
    # outside the plan (60) is computed on its own neighbourhood
    net.plan_rows(torch.tensor([[3, 17], [40, 79], [5, 22]]))
    for batch in (nodes, torch.tensor([[60, 3], [-1, -1]])):
        unplanned = deepcopy(net)
        unplanned._plan = None
        planned = net._perturbation_sums(batch)
        plain = unplanned._perturbation_sums(batch)
        assert torch.allclose(planned, plain, atol=1e-6)
        probe = torch.randn_like(planned)
        net.zero_grad()
        (planned * probe).sum().backward()
        (plain * probe).sum().backward()
        for a, b in zip(net.parameters(), unplanned.parameters(), strict=True):
            assert (a.grad is None and b.grad is None) or torch.allclose(a.grad, b.grad, atol=1e-6)


def test_propagation_rows_are_the_in_neighbourhoods() -> None:
    adjacency = sgconv_propagation(sp.csr_matrix(([1.0, 1.0, 1.0], ([0, 1, 2], [1, 2, 3])), (5, 5)))
    hops = propagation_rows(adjacency, np.array([0]), 3)  # 0 ← 1 ← 2 ← 3
    assert [h.tolist() for h in hops] == [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]]


def test_renorm_matches_torch_embedding_max_norm() -> None:
    torch.manual_seed(1)
    weight = (
        torch.randn(50, 16) * torch.linspace(0.01, 0.5, 50)[:, None]
    )  # norms on both sides of 1
    reference = torch.nn.Embedding.from_pretrained(weight.clone(), freeze=False, max_norm=1.0)
    reference(torch.arange(50))  # renormalises the rows it looks up, in place
    ours = weight.clone()
    renorm_rows_(ours)
    assert torch.allclose(ours, reference.weight.detach(), rtol=1e-6, atol=1e-7)
    norms = ours.norm(dim=1)
    assert (norms <= 1.0 + 1e-6).all() and (norms < 0.99).any() and (norms > 0.99).any()
    small = weight.norm(dim=1) <= 1.0
    assert torch.equal(ours[small], weight[small])  # rows within the norm stay unchanged


def _per_cell_reference(net: _GEARSNet, nodes: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """GEARS's own per-cell pass, written with torch's batch norm (``F.batch_norm``) on the rows
    of every cell, ``nn.functional.embedding(max_norm=1)`` lookups, the whole perturbation graph
    as a dense matrix and an einsum gene-specific layer: ``Δ`` of each cell (row ``p`` of
    ``nodes`` repeated ``counts[p]`` times). Updates the networks' running statistics as GEARS."""
    f = torch.nn.functional

    def bn(module: torch.nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
        return f.batch_norm(
            x, module.running_mean, module.running_var, module.weight, module.bias, True,
            module.momentum, module.eps,
        )  # fmt: skip

    def mlp(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        for i, (linear, norm) in enumerate(zip(module.linears, module.norms, strict=True)):
            x = bn(norm, linear(x))
            if i < len(module.linears) - 1:
                x = torch.relu(x)
        return x

    cells = nodes.repeat_interleave(counts, dim=0)
    n_cells, n_genes = cells.shape[0], net.n_genes
    every_gene = torch.arange(n_genes).repeat(n_cells)  # GEARS: each cell carries all genes
    gene = f.embedding(every_gene, net.gene_emb.weight, max_norm=1.0)
    pos_table = f.embedding(torch.arange(n_genes), net.pos_emb.weight, max_norm=1.0)
    pos = net.gene_layers[0].linear(net.coexpression.to_dense() @ pos_table).repeat(n_cells, 1)
    base = mlp(net.emb_trans, torch.relu(bn(net.bn_emb, gene)) + 0.2 * pos)
    pert_table = f.embedding(
        torch.arange(net.pert_emb.num_embeddings), net.pert_emb.weight, max_norm=1.0
    )
    adjacency = torch.tensor(net.perturbation.toarray(), dtype=torch.float32)
    q = pert_table
    for i, layer in enumerate(net.pert_layers):
        q = layer.linear(adjacency @ q)
        if i < len(net.pert_layers) - 1:
            q = torch.relu(q)
    summed = torch.cat([q, torch.zeros(1, q.shape[1])])[cells].sum(dim=1)
    has = (cells >= 0).any(dim=1)
    fused = torch.zeros_like(summed)
    fused[has] = mlp(net.pert_fuse, summed[has])
    h = torch.relu(bn(net.bn_pert_base, base + fused.repeat_interleave(n_genes, dim=0)))
    h = mlp(net.recovery, h).reshape(n_cells, n_genes, -1)
    out = torch.einsum("ngh,gh->ng", h, net.w1) + net.b1
    cross = mlp(net.cross_gene, out)
    return out * net.w2[:, 0] + cross @ net.w2[:, 1:].T + net.b2


def test_network_equals_gears_per_cell_pass_in_values_gradients_and_statistics() -> None:
    torch.manual_seed(3)
    n_genes, n_nodes = 7, 12
    coexpression = sp.random(n_genes, n_genes, density=0.4, random_state=1, format="csr")
    net = _GEARSNet(
        n_genes, n_nodes, 8, 1, 1, sgconv_matrix(coexpression), sgconv_propagation(_graph(n_nodes, 4))
    )  # fmt: skip
    nodes = torch.tensor([[3, 7], [2, -1], [-1, -1], [11, 0]])
    counts = torch.tensor([2, 3, 1, 4])
    probe = torch.randn(nodes.shape[0], n_genes)
    reference_net = deepcopy(net)
    expected = _per_cell_reference(reference_net, nodes, counts)
    # the gradient of Σ_cells probe·Δ: per perturbation, its cells' count times its probe
    (expected * probe.repeat_interleave(counts, dim=0)).sum().backward()
    found = net(nodes, counts.float())
    (found * probe * counts[:, None]).sum().backward()

    torch.testing.assert_close(found.repeat_interleave(counts, dim=0), expected.detach())
    # float32 sums in another order: gradients agree to ~1e-6 of the largest gradient entry (~50
    # here); the biases of the linear layers followed by a batch norm have a zero gradient in exact
    # arithmetic, so their computed gradients are rounding noise of that absolute size
    reference = dict(reference_net.named_parameters())
    scale = max(float(p.grad.abs().max()) for p in reference.values())
    for name, parameter in net.named_parameters():
        torch.testing.assert_close(
            parameter.grad, reference[name].grad, rtol=1e-4, atol=1e-5 * scale, msg=name
        )
    buffers = dict(reference_net.named_buffers())
    for name, buffer in net.named_buffers():
        if name.endswith(("running_mean", "running_var")):
            torch.testing.assert_close(buffer, buffers[name], rtol=1e-4, atol=1e-6)


def test_split_table_replays_the_rows_that_no_step_reads() -> None:
    torch.manual_seed(0)
    whole = _GEARSNet(
        6, 80, 8, 1, 1, sgconv_matrix(sp.identity(6)), sgconv_propagation(_graph(80, 1))
    )  # fmt: skip
    split = deepcopy(whole)
    trained = torch.tensor([[3, 17], [40, -1], [-1, -1]])
    adam = partial(torch.optim.Adam, weight_decay=5e-4, fused=True)
    for net in (whole, split):
        net.plan_rows(trained)
    split.split_table(adam)
    optimisers = [adam([p for p in net.parameters() if p.requires_grad], lr=1e-3) for net in (whole, split)]  # fmt: skip
    probe = torch.randn(3, 6)
    batches = [trained, trained[:2], trained[2:].repeat(2, 1), trained]  # the third reads no row
    saved = []
    for step in range(8):
        lr = 1e-3 * 0.5 ** (step // 3)
        for net, optimiser in zip((whole, split), optimisers, strict=True):
            net.train()
            for group in optimiser.param_groups:
                group["lr"] = lr
            optimiser.zero_grad()
            batch = batches[step % len(batches)]
            (
                net(batch, torch.full((batch.shape[0],), 2.0)) * probe[: batch.shape[0]]
            ).sum().backward()
            optimiser.step()
            net.record_step(lr)
        if step == 4:
            saved = [deepcopy(net.state_dict()) for net in (whole, split)]
    assert int(split.table_steps) == 6  # two of the eight steps read no row of the table

    query = torch.tensor([[60, 79], [3, -1], [77, 17]])
    rows = propagation_rows(split.perturbation, query[query >= 0].numpy(), 1)[-1]
    assert (split._read_index[torch.from_numpy(rows)] < 0).sum() > 5  # rows no step read
    for state in ([], saved):  # after training, and after restoring the state of step 4
        for net, kept in zip((whole, split), state or [None, None], strict=True):
            if kept is not None:
                net.load_state_dict(kept)
            net.eval()
        with torch.no_grad():
            torch.testing.assert_close(split(query), whole(query), rtol=0, atol=1e-6)
