"""GEARS's perturbation-graph convolution on the used targets' neighbourhoods only: the same values
and gradients as the convolution of the whole graph, and the vectorised embedding renormalisation
matching torch's."""

from __future__ import annotations

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
