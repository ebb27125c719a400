"""GEARS (vcbench.models.deep.gears): the shared deep-model checks and model-specific properties."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from deep_model_cases import check_deep_model  # noqa: E402

from vcbench.data import contract as c  # noqa: E402
from vcbench.data.simulate import simulate  # noqa: E402
from vcbench.models import get_model  # noqa: E402
from vcbench.models.deep.gears import (  # noqa: E402
    _BatchNorm,
    coexpression_graph,
    gears_loss,
    jaccard_graph,
    sgconv_matrix,
)

FAST_PARAMS = {"n_epochs": 6, "batch_size": 64, "lr": 3e-3}


def test_gears_passes_the_deep_model_checks() -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="gears: no gene-ontology table")
        check_deep_model("gears", FAST_PARAMS)


def _orthonormal_columns(n_rows: int, n_cols: int) -> np.ndarray:
    """Centred orthonormal columns (so that correlations are exact inner products)."""
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(n_rows, n_cols))
    q, _ = np.linalg.qr(raw - raw.mean(axis=0))
    return q


def test_coexpression_graph_keeps_the_top_correlated_genes_above_the_threshold() -> None:
    a, b, cc = _orthonormal_columns(12, 3).T
    x = np.column_stack([a, a + 0.5 * b, b, cc, -a + 0.2 * cc])
    r = np.abs(np.corrcoef(x.T))  # |r|: 0–1 .894, 0–4 .981, 1–2 .447, 1–4 .877, 3–4 .196
    graph = coexpression_graph(x, k=1, threshold=0.4).toarray()
    # each gene t keeps itself and its most correlated gene, if |r| > 0.4 (W[t, s])
    expected = {(0, 0), (0, 4), (1, 1), (1, 0), (2, 2), (2, 1), (3, 3), (4, 4), (4, 0)}
    assert set(zip(*np.nonzero(graph), strict=True)) == expected
    for t, s in expected:
        assert graph[t, s] == pytest.approx(r[t, s])
    # a higher threshold drops the 0.447 edge; a larger k adds the second-best gene of gene 0
    assert coexpression_graph(x, k=1, threshold=0.5)[2, 1] == 0
    assert coexpression_graph(x, k=2, threshold=0.4)[0, 1] == pytest.approx(r[0, 1])
    # with contexts, a shift between them is not co-expression: centring within each context
    shifted = x + np.array([5.0, 0.0, 0.0, 5.0, 0.0])
    pooled = np.vstack([x, shifted])
    groups = np.repeat([0, 1], x.shape[0])
    assert coexpression_graph(pooled, k=1, threshold=0.4)[3, 0] > 0.4  # spurious edge
    np.testing.assert_allclose(
        coexpression_graph(pooled, k=1, threshold=0.4, groups=groups).toarray(), graph
    )


def test_go_graph_weights_are_jaccard_indices_of_go_term_sets() -> None:
    sets = {"A": {"t1", "t2", "t3"}, "B": {"t2", "t3"}, "C": {"t3", "t4"}, "D": {"t5"}}
    table = pd.DataFrame(
        [(g, t) for g, terms in sets.items() for t in sorted(terms)], columns=["gene", "go_term"]
    )
    table = pd.concat([table, table.iloc[:1]])  # a repeated pair counts once
    genes, graph = jaccard_graph(table, k=1, threshold=0.1)
    assert genes == ["A", "B", "C", "D"]

    def jaccard(s: str, t: str) -> float:
        return len(sets[s] & sets[t]) / len(sets[s] | sets[t])

    # A–B 2/3, B–C 1/3, A–C 1/4, D shares nothing: each gene keeps itself and its best match
    dense = graph.toarray()
    expected = {("A", "A"), ("A", "B"), ("B", "B"), ("B", "A"), ("C", "C"), ("C", "B"), ("D", "D")}
    index = {g: i for i, g in enumerate(genes)}
    assert {(genes[t], genes[s]) for t, s in zip(*np.nonzero(dense), strict=True)} == expected
    for t, s in expected:
        assert dense[index[t], index[s]] == pytest.approx(jaccard(s, t))
    # k = 2 adds C's second match A (1/4 > 0.1); a 0.3 threshold removes it again
    assert jaccard_graph(table, k=2, threshold=0.1)[1][2, 0] == pytest.approx(0.25)
    assert jaccard_graph(table, k=2, threshold=0.3)[1][2, 0] == 0


def test_sgconv_matrix_is_the_symmetrically_normalised_adjacency_with_self_loops() -> None:
    weights = np.array([[0.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.0]])
    with_loops = weights + np.diag([1.0, 0.0, 1.0])  # loops of weight 1 where none
    degree = with_loops.sum(axis=1)
    expected = with_loops / np.sqrt(np.outer(degree, degree))
    np.testing.assert_allclose(sgconv_matrix(weights).to_dense().numpy(), expected, rtol=1e-6)


def test_loss_equals_the_autofocus_and_direction_loss_computed_with_numpy() -> None:
    rng = np.random.default_rng(1)
    pred, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    ctrl = rng.normal(size=(1, 4))
    groups = np.array([0, 0, 1, 2, 2])
    mask = np.ones((5, 4), dtype=bool)
    mask[:2, 3] = False  # group 0 keeps its first three genes
    gamma, lam = 2.0, 0.1
    expected = 0.0
    for g in np.unique(groups):
        rows = groups == g
        kept = mask[rows][0]
        p, t = pred[rows][:, kept], y[rows][:, kept]
        autofocus = np.abs(p - t) ** (2 + gamma)
        direction = lam * (np.sign(t - ctrl[:, kept]) - np.sign(p - ctrl[:, kept])) ** 2
        expected += (autofocus + direction).sum() / p.shape[0] / p.shape[1]
    expected /= 3
    loss = gears_loss(
        *(torch.tensor(a) for a in (pred, y, ctrl, groups, mask)), gamma=gamma, direction_lambda=lam
    )
    assert float(loss) == pytest.approx(expected)
    # the direction term has no gradient (sign), the autofocus term has GEARS's |e|^3 slope
    p = torch.tensor(pred, requires_grad=True)
    gears_loss(p, torch.tensor(y), torch.tensor(ctrl), torch.tensor(groups)).backward()
    counts = np.bincount(groups)[groups][:, None]
    slope = 4 * np.abs(pred - y) ** 3 * np.sign(pred - y) / (4 * counts * 3)
    np.testing.assert_allclose(p.grad.numpy(), slope, rtol=1e-6)


def test_weighted_batch_norm_equals_batch_norm_of_the_repeated_rows() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 4, generator=gen)
    counts = torch.tensor([1.0, 4.0, 2.0])
    weighted, plain = _BatchNorm(4), torch.nn.BatchNorm1d(4)
    with torch.no_grad():  # non-trivial scale and shift
        for module in (weighted, plain):
            module.weight.copy_(torch.tensor([0.5, 1.0, 2.0, -1.0]))
            module.bias.copy_(torch.tensor([0.1, -0.2, 0.0, 0.3]))
    x_weighted, x_plain = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = weighted(x_weighted, counts)
    repeated = x_plain.repeat_interleave(counts.long(), dim=0)
    expected = plain(repeated)
    torch.testing.assert_close(out.repeat_interleave(counts.long(), dim=0), expected)
    torch.testing.assert_close(weighted.running_mean, plain.running_mean)
    torch.testing.assert_close(weighted.running_var, plain.running_var)
    # the gradients: of Σ_copies probe·out for the repeated rows, of Σ_i count_i probe_i·out_i here
    probe = torch.randn(3, 4, generator=gen)
    (expected * probe.repeat_interleave(counts.long(), dim=0)).sum().backward()
    (out * probe * counts[:, None]).sum().backward()
    torch.testing.assert_close(x_weighted.grad, x_plain.grad)
    torch.testing.assert_close(weighted.weight.grad, plain.weight.grad)
    torch.testing.assert_close(weighted.bias.grad, plain.bias.grad)


@pytest.fixture(scope="module")
def small():
    return simulate(
        n_contexts=1, n_genes=30, n_singles=6, n_combinations=0, cells_per_condition=20, seed=2
    ).adata


def test_missing_go_table_warns_and_falls_back_to_coexpression(small) -> None:
    with pytest.warns(UserWarning, match="go_terms"):
        model = get_model("gears", n_epochs=1).fit(small)
    assert model.perturbation_graph_ == "coexpression"
    assert model.perturbation_nodes_ == list(small.var_names)


def test_unseen_target_with_the_go_terms_of_a_trained_target_gets_its_prediction(small) -> None:
    trained = sorted(small.obs.loc[~small.obs[c.IS_CONTROL], c.PERTURBATION].astype(str).unique())
    # every trained target has its own GO term; "TWIN" has exactly the terms of the first one
    rows = [(g, f"GO:{i}") for i, g in enumerate(trained)] + [("TWIN", "GO:0")]
    go_terms = pd.DataFrame(rows, columns=["gene", "go_term"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning with a table
        model = get_model("gears", go_terms=go_terms, n_epochs=2).fit(small)
    assert model.perturbation_graph_ == "go"
    assert "TWIN" in model.perturbation_nodes_
    x0 = torch.from_numpy(small[small.obs[c.IS_CONTROL].to_numpy()].X.toarray()[:5])

    def predicted(label: str) -> np.ndarray:
        with torch.no_grad():
            return model._predict_cells(x0, model.condition_inputs("ctx0", label)).numpy()

    # identical GO neighbourhoods give identical graph embeddings, hence the same predictions up
    # to float32 rounding: the graph convolution sums the neighbours in an order that depends on
    # the node's index and on the thread count, and the predictions (log-expression of order 1)
    # then differ by a few float32 ulps (4.8e-7 measured with the default thread count); 1e-5 is
    # ~80 ulps at 1.0, far below the difference between two distinct targets checked next
    tolerance = 1e-5
    np.testing.assert_allclose(predicted("TWIN"), predicted(trained[0]), rtol=0, atol=tolerance)
    assert np.abs(predicted(trained[0]) - predicted(trained[1])).max() > 100 * tolerance
    # a target in no graph adds no perturbation embedding: predicted as the controls
    np.testing.assert_allclose(
        predicted("NOT_A_GENE"), predicted(c.CONTROL), rtol=0, atol=tolerance
    )


def _regression_case() -> tuple[object, list[str], pd.DataFrame]:
    """One context, 30 genes, 6 singles and 2 combinations; a GO table in which consecutive
    targets share a term, the last target has none (an isolated node), ``UNSEEN`` shares terms
    with the first three and ``FAR``/``FAR2`` only with each other (rows no training step reads)."""
    data = simulate(
        n_contexts=1, n_genes=30, n_singles=6, n_combinations=2, cells_per_condition=20, seed=2
    ).adata
    perturbed = data.obs.loc[~data.obs[c.IS_CONTROL], c.PERTURBATION].astype(str)
    trained = sorted({t for p in perturbed for t in c.split_combination(p)})
    rows = [(g, f"GO:{i}") for i, g in enumerate(trained[:-1])]
    rows += [(g, f"GO:{i + 1}") for i, g in enumerate(trained[:-2])]
    rows += [("UNSEEN", "GO:0"), ("UNSEEN", "GO:1"), ("UNSEEN", "GO:2")]
    rows += [("OTHER", "GO:1"), ("OTHER", "GO:9"), ("FAR", "GO:50"), ("FAR", "GO:51")]
    rows += [("FAR2", "GO:51")]
    return data, trained, pd.DataFrame(rows, columns=["gene", "go_term"])


# Δ_p − Δ_control on the first 8 genes, and Δ_control, computed with the code before the speed-ups
# of issue 16 (commit d63c190: per-op weighted batch norm, einsum gene layer, unfused Adam), for
# G0002, G0002+G0006 (unseen combination), G0024 (isolated node), UNSEEN and FAR
BEFORE_CONTRASTS = [
    [0.012980, 0.060730, 0.005891, -0.026281, -0.003170, -0.017163, 0.013413, 0.038061],
    [0.023226, 0.062094, 0.001606, -0.019980, 0.007464, 0.002833, -0.013395, 0.050393],
    [0.034450, 0.067187, 0.020054, -0.027498, -0.001575, 0.000488, 0.027784, 0.057801],
    [0.017646, 0.061231, 0.005071, -0.026014, -0.002208, -0.022127, 0.010152, 0.041497],
    [0.029115, 0.050021, 0.000394, -0.031153, 0.009269, -0.035367, -0.007789, 0.043101],
]
BEFORE_CONTROL = [
    -0.302434,
    -0.248312,
    0.593165,
    0.299504,
    -0.194589,
    0.291851,
    0.547609,
    -0.195055,
]


def test_predictions_match_the_code_before_the_speed_ups() -> None:
    data, trained, go_terms = _regression_case()
    model = get_model("gears", go_terms=go_terms, n_epochs=3).fit(data)
    x0 = torch.from_numpy(data[data.obs[c.IS_CONTROL].to_numpy()].X.toarray()[:4])
    labels = [trained[0], f"{trained[0]}+{trained[1]}", trained[-1], "UNSEEN", "FAR", c.CONTROL]
    with torch.no_grad():
        delta = np.array(
            [
                (model._predict_cells(x0, model.condition_inputs("ctx0", label)) - x0)[0].numpy()
                for label in labels
            ]
        )
    # Training amplifies float rounding (Adam turns the rounding noise of zero-gradient directions,
    # the biases before a batch norm, into full steps): the code before the change moves its
    # contrasts by 2.3e-4 and its predictions by 4.2e-4 when only its thread count changes (1 → 2);
    # the new code is 2.9e-4 and 1.3e-3 from it. Tolerances: 1e-3 on contrasts of size ~0.1 and
    # 5e-3 on Δ (a wrong layer or gradient moves them by more than 1e-2)
    np.testing.assert_allclose(delta[:5, :8] - delta[5, :8], BEFORE_CONTRASTS, rtol=0, atol=1e-3)
    np.testing.assert_allclose(delta[5, :8], BEFORE_CONTROL, rtol=0, atol=5e-3)
