"""The knowledge layer: shipped annotations, harmonisation, GO graph and embedding, compound
fingerprints, user tables and the featuriser; cross-checked against the development copy of the
annotations (../shared), hand-worked examples and independent code paths."""

from __future__ import annotations

import sqlite3
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from vcbench.errors import KnowledgeError, ModelError
from vcbench.knowledge import annotations, go_embedding
from vcbench.knowledge.featurize import PerturbationFeatures
from vcbench.knowledge.go_graph import graph_edges, jaccard_graph, load_go_terms
from vcbench.knowledge.harmonize import harmonize_genes, resolve_gene
from vcbench.knowledge.tables import load_embedding

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "gene_annotations_org_hs_2022"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="development annotations absent")
sys.path.insert(0, str(ROOT / "scripts"))
import build_knowledge  # noqa: E402


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(go_embedding.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "cache"))


# -- shipped data -------------------------------------------------------------------------------


@needs_shared
def test_shipped_tables_are_the_compact_form_of_the_development_tables() -> None:
    full = {n: pd.read_parquet(SHARED / f"{n}.parquet") for n in build_knowledge.TABLES}
    rebuilt = build_knowledge.compact(full)
    for name in build_knowledge.TABLES:
        pd.testing.assert_frame_equal(rebuilt[name], annotations._table(name), check_dtype=False)
    # independent of the build code: the distinct (entrez, GO) pairs and the gene symbols
    raw = full["gene_go"][["entrez", "go_id"]].astype(str).drop_duplicates()
    shipped = annotations._table("gene_go").astype(str)
    assert set(map(tuple, raw.to_numpy())) == set(map(tuple, shipped.to_numpy()))
    assert (
        annotations.genes()["symbol"].tolist()
        == full["genes"].sort_values("entrez", key=lambda s: s.astype(int))["symbol"].tolist()
    )


def test_the_sqlite_stage_joins_the_bioconductor_schema(tmp_path) -> None:
    org, go = tmp_path / "org.sqlite", tmp_path / "go.sqlite"
    with sqlite3.connect(org) as db:
        db.executescript(
            """
            CREATE TABLE genes (_id INTEGER, gene_id TEXT);
            CREATE TABLE gene_info (_id INTEGER, gene_name TEXT, symbol TEXT);
            CREATE TABLE genetype (_id INTEGER, gene_type TEXT);
            CREATE TABLE ensembl (_id INTEGER, ensembl_id TEXT);
            CREATE TABLE alias (_id INTEGER, alias_symbol TEXT);
            CREATE TABLE go_bp (_id INTEGER, go_id TEXT, evidence TEXT);
            CREATE TABLE go_mf (_id INTEGER, go_id TEXT, evidence TEXT);
            CREATE TABLE go_cc (_id INTEGER, go_id TEXT, evidence TEXT);
            INSERT INTO genes VALUES (1, '7157'), (2, '1');
            INSERT INTO gene_info VALUES (1, 'tumor protein p53', 'TP53'), (2, 'a1bg', 'A1BG');
            INSERT INTO genetype VALUES (1, 'protein-coding'), (2, 'protein-coding');
            INSERT INTO ensembl VALUES (1, 'ENSG00000141510');
            INSERT INTO alias VALUES (1, 'P53'), (1, 'TP53'), (2, 'A1BG');
            INSERT INTO go_bp VALUES (1, 'GO:0000002', 'IDA'), (1, 'GO:0000002', 'IEA');
            INSERT INTO go_cc VALUES (2, 'GO:0000003', 'ND');
            """
        )
    with sqlite3.connect(go) as db:
        db.executescript(
            """
            CREATE TABLE go_term (_id INTEGER, go_id TEXT, term TEXT, ontology TEXT);
            CREATE TABLE go_bp_parents (_id INTEGER, _parent_id INTEGER, relationship_type TEXT);
            CREATE TABLE go_mf_parents (_id INTEGER, _parent_id INTEGER, relationship_type TEXT);
            CREATE TABLE go_cc_parents (_id INTEGER, _parent_id INTEGER, relationship_type TEXT);
            INSERT INTO go_term VALUES (1, 'GO:0000001', 'root', 'BP'), (2, 'GO:0000002', 'leaf',
                'BP'), (3, 'GO:0000003', 'part', 'CC');
            INSERT INTO go_bp_parents VALUES (2, 1, 'isa');
            """
        )
    tables = build_knowledge.compact(build_knowledge.tables_from_sqlite(org, go))
    genes = tables["genes"].set_index("symbol")
    assert genes.loc["TP53", "aliases"] == "P53"  # the symbol itself is not an alias
    assert genes.loc["TP53", "ensembl"] == "ENSG00000141510"
    assert tables["gene_go"].to_numpy().tolist() == [[1, "GO:0000003"], [7157, "GO:0000002"]]
    assert tables["go_parents"].to_numpy().tolist() == [["GO:0000002", "GO:0000001", "isa"]]


def test_propagation_adds_exactly_the_ancestors_along_is_a_and_part_of() -> None:
    genes, terms, direct = annotations.gene_term_matrix(("BP", "MF", "CC"), False)
    _, p_terms, propagated = annotations.gene_term_matrix(("BP", "MF", "CC"), True)
    parents = annotations.go_parents()
    parents = parents[parents["relation"].isin(["isa", "part of"])]
    up = parents.groupby("child")["parent"].apply(set).to_dict()

    def ancestors(term: str) -> set[str]:  # plain graph search, independent of the closure
        seen, todo = {term}, [term]
        while todo:
            for parent in up.get(todo.pop(), ()):
                if parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen

    row = genes.get_loc("MED12")
    mine = set(terms[direct[row].indices])
    expected = set().union(*(ancestors(t) for t in mine)) - {"all"}  # the root of no ontology
    assert set(p_terms[propagated[genes.get_loc("MED12")].indices]) == expected
    assert propagated.nnz > 3 * direct.nnz


# -- harmonisation ------------------------------------------------------------------------------


def test_harmonisation_resolves_symbols_ids_and_aliases_and_never_guesses() -> None:
    names = ["TP53", "tp53", "ENSG00000141510.17", "7157", "KIAA0101", "CD20", "NOT_A_GENE"]
    result = harmonize_genes(names)
    assert result.mapping == {
        "TP53": "TP53",
        "tp53": "TP53",
        "ENSG00000141510.17": "TP53",  # version stripped
        "7157": "TP53",  # Entrez
        "KIAA0101": "PCLAF",  # a previous symbol
    }
    assert result.how["KIAA0101"] == "alias" and result.how["7157"] == "entrez"
    assert result.ambiguous == {"CD20": ("KRT20", "MS4A1")}  # an alias of two genes
    assert result.unknown == ("NOT_A_GENE",)
    message = result.message("targets")
    assert "2 of 7 targets" in message and "CD20" in message and "NOT_A_GENE" in message


@needs_shared
def test_harmonisation_agrees_with_the_raw_gene_table() -> None:
    raw = pd.read_parquet(SHARED / "genes.parquet").dropna(subset=["symbol"])
    unique = raw[~raw["symbol"].duplicated(keep=False)].sample(300, random_state=0)
    for entrez, symbol, ensembl in unique[["entrez", "symbol", "ensembl"]].itertuples(index=False):
        assert resolve_gene(str(entrez)) == ("entrez", (symbol,))
        assert resolve_gene(symbol.lower())[1] == (symbol,)
        ids = [e for e in str(ensembl or "").split("|") if e and e != "None"]
        owners = (
            set(raw.loc[raw["ensembl"].fillna("").str.contains(ids[0]), "symbol"]) if ids else set()
        )
        if ids and len(owners) == 1:
            assert resolve_gene(ids[0] + ".3") == ("ensembl", (symbol,))


# -- GO graph -----------------------------------------------------------------------------------


def test_jaccard_graph_over_a_given_gene_order_and_as_edges() -> None:
    sets = {"A": {"t1", "t2", "t3"}, "B": {"t2", "t3"}, "C": {"t3", "t4"}}
    table = pd.DataFrame(
        [(g, t) for g, ts in sets.items() for t in ts], columns=["gene", "go_term"]
    )
    nodes, weights = jaccard_graph(table, k=5, threshold=0.1, genes=["C", "A"])
    assert nodes == ["C", "A"]  # B left out, the order kept
    np.testing.assert_allclose(weights.toarray(), [[1.0, 0.25], [0.25, 1.0]])
    edges = graph_edges(nodes, weights)
    assert set(edges.itertuples(index=False, name=None)) == {
        ("C", "C", 1.0),
        ("A", "C", 0.25),
        ("C", "A", 0.25),
        ("A", "A", 1.0),
    }
    shipped = load_go_terms("shipped")
    assert {"MED12", "TP53"} <= set(shipped["gene"])


# -- GO embedding -------------------------------------------------------------------------------


def test_idf_weighting_and_svd_by_hand() -> None:
    member = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 0, 0], [1, 1, 1]], dtype=float))
    x = go_embedding.idf_weighted_rows(member).toarray()
    idf = np.log(4 / np.array([4, 2, 2]))  # a term every gene has weighs 0
    expected = member.toarray() * idf
    norms = np.linalg.norm(expected, axis=1, keepdims=True)
    expected = np.divide(expected, norms, out=np.zeros_like(expected), where=norms > 0)
    np.testing.assert_allclose(x, expected)
    dense = np.random.default_rng(0).normal(size=(40, 12))
    coords = go_embedding.svd_embedding(sp.csr_matrix(dense), 5)
    u, s, _ = np.linalg.svd(dense, full_matrices=False)
    np.testing.assert_allclose(np.abs(coords), np.abs(u[:, :5] * s[:5]), atol=1e-6)


def test_go_embedding_places_genes_of_one_complex_together_and_is_cached(tmp_path) -> None:
    table = go_embedding.go_embedding()
    assert table.shape == (annotations.gene_term_matrix(annotations.ONTOLOGIES, True)[0].size, 64)
    unit = table.to_numpy() / np.linalg.norm(table.to_numpy(), axis=1, keepdims=True)
    cosine = lambda a, b: float(unit[table.index.get_loc(a)] @ unit[table.index.get_loc(b)])  # noqa: E731
    ribosome = ["RPL5", "RPL11", "RPS3", "RPS6"]
    pairs = [cosine(a, b) for i, a in enumerate(ribosome) for b in ribosome[i + 1 :]]
    random = np.random.default_rng(0).choice(table.shape[0], size=(200, 2))
    background = np.mean([unit[i] @ unit[j] for i, j in random])
    assert min(pairs) > background + 0.3
    # a new process reads the cache file: same values
    go_embedding.go_embedding.cache_clear()
    again = go_embedding.go_embedding()
    np.testing.assert_array_equal(again.to_numpy(), table.to_numpy())


# -- compounds and tables -----------------------------------------------------------------------


def test_morgan_fingerprints_match_rdkits_bit_vector_api() -> None:
    from rdkit import Chem, DataStructs
    from rdkit.Chem import AllChem

    from vcbench.knowledge.compounds import morgan_fingerprints

    smiles = {"aspirin": "CC(=O)OC1=CC=CC=C1C(=O)O", "caffeine": "Cn1cnc2c1c(=O)n(C)c(=O)n2C"}
    got = morgan_fingerprints(smiles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for name, s in smiles.items():
            bits = AllChem.GetMorganFingerprintAsBitVect(Chem.MolFromSmiles(s), 2, nBits=2048)
            expected = np.zeros(2048)
            DataStructs.ConvertToNumpyArray(bits, expected)
            np.testing.assert_array_equal(got.loc[name].to_numpy(), expected)
    with pytest.raises(KnowledgeError, match="cannot parse"):
        morgan_fingerprints({"bad": "C1CC(("})


def test_torch_dicts_load_as_tables_and_bad_tables_are_clear_errors(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    vectors = {"TP53": torch.arange(4.0), "MYC": torch.ones(1, 4)}
    torch.save(vectors, tmp_path / "ESM2_pert_features.pt")
    table = load_embedding(tmp_path / "ESM2_pert_features.pt")
    np.testing.assert_array_equal(table.loc["TP53"], [0, 1, 2, 3])
    np.testing.assert_array_equal(table.loc["MYC"], [1, 1, 1, 1])
    torch.save({"A": torch.ones(3), "B": torch.ones(4)}, tmp_path / "ragged.pt")
    with pytest.raises(KnowledgeError, match="different lengths"):
        load_embedding(tmp_path / "ragged.pt")
    torch.save({"A": torch.ones(2, 3)}, tmp_path / "matrix.pt")
    with pytest.raises(KnowledgeError, match="shape"):
        load_embedding(tmp_path / "matrix.pt")
    with pytest.raises(KnowledgeError, match=r"NaN or infinite values in 1 row.*'B'"):
        load_embedding(pd.DataFrame({"x": [1.0, np.nan]}, index=["A", "B"]))
    features = PerturbationFeatures("embedding", embedding=table)
    with pytest.raises(ModelError, match="No training perturbation has a target"):
        features.fit([("NOT_A_GENE",)], None, pd.Index([]))


# -- the featuriser -----------------------------------------------------------------------------


def test_featuriser_auto_uses_go_fingerprints_pca_and_a_named_fallback() -> None:
    train = [("MED12",), ("p53",), ("aspirin",), ("G_MEASURED",), ("MYSTERY",)]
    genes = pd.Index(["G_MEASURED", "OTHER", "THIRD"])
    effects = np.random.default_rng(0).normal(size=(5, 3))
    smiles = {"aspirin": "CC(=O)OC1=CC=CC=C1C(=O)O"}
    with pytest.warns(UserWarning, match=r"1 \(MYSTERY\) training targets have no representation"):
        features = PerturbationFeatures("embedding", n_components=2).fit(
            train, effects, genes, smiles=smiles
        )
    assert [b[0] for b in features.blocks_] == ["fingerprint", "go", "pca"]
    assert features.source_of_ == {
        "MED12": "go",
        "p53": "go",  # an alias of TP53
        "aspirin": "fingerprint",
        "G_MEASURED": "pca",
    }
    x = features.transform([*train, ("TP53",), ("MED12", "aspirin")])
    assert x.shape[1] == features.n_features == 2048 + 64 + 2 + 1
    np.testing.assert_allclose(x[1], x[5])  # alias and symbol: the same vector
    np.testing.assert_allclose(x[6], x[0] + x[2])  # a combination: the sum of its parts
    assert x[4, -1] == 1 and np.count_nonzero(x[4]) == 1  # the one-hot fallback
    with pytest.warns(UserWarning, match=r"1 \(UNSEEN_NAME\).*not seen in training"):
        unseen = features.transform([("UNSEEN_NAME",)])
    assert not unseen.any()
    np.testing.assert_array_equal(
        features.coverage([("MED12",), ("UNSEEN_NAME",), ("MED12", "UNSEEN_NAME"), ("MYSTERY",)]),
        [True, False, False, True],
    )


def test_loader_records_smiles_so_unseen_compounds_get_fingerprints() -> None:
    import anndata as ad

    from vcbench.data import load_dataset
    from vcbench.models.embeddings import training_smiles

    smiles = {"aspirin": "CC(=O)OC1=CC=CC=C1C(=O)O", "caffeine": "Cn1cnc2c1c(=O)n(C)c(=O)n2C"}
    labels = ["control"] * 4 + ["aspirin"] * 3 + ["caffeine"] * 3 + ["mystery"] * 2
    obs = pd.DataFrame(
        {"condition": labels, "smiles": [smiles.get(x, "") for x in labels]},
        index=[f"c{i}" for i in range(len(labels))],
    )
    counts = np.random.default_rng(0).poisson(5, size=(len(labels), 6)).astype(np.float32)
    data = load_dataset(ad.AnnData(counts, obs=obs), "condition", None, "control")
    assert training_smiles(data) == smiles
    train = data[data.obs["vcb_perturbation"].isin(["control", "aspirin", "mystery"]).to_numpy()]
    with pytest.warns(UserWarning, match=r"1 \(mystery\) training targets"):
        features = PerturbationFeatures("embedding").fit(
            [("aspirin",), ("mystery",)], None, data.var_names, smiles=training_smiles(train)
        )
    x = features.transform([("caffeine",)])  # unseen in training, its SMILES recorded
    from vcbench.knowledge.compounds import morgan_fingerprints

    expected = morgan_fingerprints({"caffeine": smiles["caffeine"]}).to_numpy()[0]
    np.testing.assert_array_equal(x[0, :2048] > 0, expected > 0)
    assert not x[0, 2048:].any()  # no fallback indicator for an unseen compound


def test_gears_auto_go_table_is_the_shipped_one_only_when_it_annotates_the_targets() -> None:
    from vcbench.knowledge.go_graph import shipped_if_it_covers

    assert shipped_if_it_covers(None, ["TP53"]) is None
    assert shipped_if_it_covers("auto", ["G0001", "G0002", "G0003+G0004"]) is None
    shipped = shipped_if_it_covers("auto", ["TP53", "p53+MED12", "NOT_A_GENE"])  # 3 of 4 targets
    assert shipped is not None and len(shipped) == len(load_go_terms("shipped"))
    user = pd.DataFrame({"gene": ["A"], "go_term": ["GO:1"]})
    pd.testing.assert_frame_equal(shipped_if_it_covers(user, ["X"]), user)


def test_partial_partition_top_k_equals_the_stable_argsort_choice() -> None:
    from vcbench.knowledge.go_graph import _row_top_k

    rng = np.random.default_rng(0)
    for _ in range(50):
        block = rng.integers(0, 4, size=(30, 25)) / 4  # many ties
        k = int(rng.integers(1, 8))
        top = np.argsort(-block, axis=1, kind="stable")[:, :k]
        keep = np.take_along_axis(block, top, axis=1) > 0.1
        expected = set(
            zip(np.repeat(np.arange(30)[:, None], k, axis=1)[keep], top[keep], strict=True)
        )
        rows, cols = _row_top_k(block, k, 0.1)
        assert set(zip(rows, cols, strict=True)) == expected
