"""gears_official (vcbench.models.adapters.gears_official): the authors' GEARS package behind the
contract. Skipped without the extra ``vcbench[gears]`` (cell-gears, torch-geometric)."""

from __future__ import annotations

import builtins
import os
import socket
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("gears")
pytest.importorskip("torch_geometric")

import gears.utils
import h5py
import torch_geometric.nn
from deep_model_cases import combo_case, no_change_score, seen_case

from vcbench.data import contract as c
from vcbench.errors import ModelError
from vcbench.models import get_model
from vcbench.models.adapters.gears_official import (
    GEARSOfficial,
    go_graph_edges,
    load_go_terms,
)
from vcbench.models.contract_checks import check_model_contract
from vcbench.runner import run_model
from vcbench.runner.task import queries_for

FAST = {"n_epochs": 2, "hidden_size": 16, "decoder_hidden_size": 8, "lr": 5e-3}
NO_GO = "ignore:gears_official. no go_terms table:UserWarning"


@pytest.mark.filterwarnings(NO_GO)
def test_contract_on_the_combination_case() -> None:
    adata, split = combo_case()
    # the simulated targets are measured genes, so the co-expression GO graph embeds them all
    targets = {t for p in split.test_conditions[c.PERTURBATION] for t in c.split_combination(p)}
    assert targets <= set(adata.var_names)
    model = get_model("gears_official", **FAST)
    assert isinstance(model, GEARSOfficial)
    prediction = check_model_contract(model, adata, split)  # determinism included
    assert np.isfinite(prediction.X).all()
    assert model.go_source_ == "coexpression"


@pytest.mark.filterwarnings(NO_GO)
def test_beats_no_change_on_seen_perturbations() -> None:
    adata, split = seen_case()
    params = {"n_epochs": 5, "hidden_size": 16, "decoder_hidden_size": 8, "lr": 5e-3}
    scores = run_model(adata, split, GEARSOfficial(**params), ["rmse"])
    assert scores["value"].mean() < 0.8 * no_change_score(seen_case(), "rmse")


@pytest.mark.filterwarnings("ignore:DataFrameGroupBy.apply operated on the grouping:FutureWarning")
def test_go_table_conversion_matches_gears(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    genes = [f"g{i}" for i in range(12)]
    rows = [(g, f"GO:{t:03d}") for g in genes for t in rng.choice(8, rng.integers(1, 5), False)]
    table = pd.DataFrame(rows, columns=["gene", "go_term"])
    gene2go = load_go_terms(table)
    assert set(gene2go) == set(genes)
    assert gene2go["g0"] == set(table.loc[table["gene"] == "g0", "go_term"])
    # files: CSV and parquet give the same sets; missing values are dropped
    table.to_csv(tmp_path / "go.csv", index=False)
    with_na = pd.concat([table, pd.DataFrame({"gene": ["g0"], "go_term": [None]})])
    with_na.to_parquet(tmp_path / "go.parquet")
    assert load_go_terms(tmp_path / "go.csv") == gene2go
    assert load_go_terms(tmp_path / "go.parquet") == gene2go
    with pytest.raises(ModelError, match="go_term"):
        load_go_terms(table.rename(columns={"go_term": "term"}))

    # the GO graph: GEARS's own edge function (Jaccard > 0.1) and its top-(k + 1) per target
    k = 3
    edges = [e for g in genes for e in gears.utils.get_GO_edge_list((g, gene2go))]
    expected = pd.DataFrame(edges, columns=["source", "target", "importance"])
    expected = (
        expected.groupby("target")
        .apply(lambda x: x.nlargest(k + 1, ["importance"]))
        .reset_index(drop=True)
    )
    got = go_graph_edges(gene2go, genes, k)
    key = ["target", "source"]
    expected = expected.sort_values(key).reset_index(drop=True)
    got = got.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[key], expected[key])
    np.testing.assert_allclose(got["importance"], expected["importance"])


def test_go_terms_fit_writes_only_to_a_temporary_directory_and_never_downloads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adata, split = combo_case()
    rng = np.random.default_rng(1)
    genes = [*adata.var_names, "UNMEASURED"]  # a GO-table gene that is not measured
    table = pd.DataFrame(
        [(g, f"GO:{t}") for g in genes for t in rng.choice(15, 3, replace=False)],
        columns=["gene", "go_term"],
    )
    # torch_geometric writes a layer's generated propagate code to the temporary directory once
    # per process and keeps it for the process's life; build GEARS's layer type first, so the
    # test does not depend on running after another GEARS test and judges GEARS's own files only
    torch_geometric.nn.SGConv(2, 2)
    scratch, cwd = tmp_path / "tmp", tmp_path / "cwd"
    scratch.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(cwd)

    def refuse(*args, **kwargs):
        raise AssertionError("gears_official tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(gears.utils.requests, "get", refuse)

    written: list[str] = []
    real_open, real_mkdir = builtins.open, os.mkdir

    def recording_open(file, mode="r", *args, **kwargs):
        if any(m in mode for m in "wax+"):
            written.append(os.path.abspath(file))
        return real_open(file, mode, *args, **kwargs)

    def recording_mkdir(path, *args, **kwargs):
        written.append(os.path.abspath(path))
        return real_mkdir(path, *args, **kwargs)

    class RecordingFile(h5py.File):
        def __init__(self, name, mode="r", *args, **kwargs):
            if mode != "r":
                written.append(os.path.abspath(name))
            super().__init__(name, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(os, "mkdir", recording_mkdir)
    monkeypatch.setattr(h5py, "File", RecordingFile)

    train = adata[split.mask(adata, "train")].copy()
    model = GEARSOfficial(go_terms=table, **FAST).fit(train)
    monkeypatch.undo()

    assert any(p.endswith("perturb_processed.h5ad") for p in written)  # GEARS did write files
    # Python's own bytecode cache of a module imported for the first time (e.g. scanpy's, in a
    # fresh venv and a test order where this test imports it first) is not GEARS's writing
    written = [p for p in written if "__pycache__" not in Path(p).parts]
    assert all(Path(p).is_relative_to(scratch) for p in written), written
    assert not list(scratch.iterdir()) and not list(cwd.iterdir())  # and they are gone
    assert model.go_source_ == "go_terms"
    assert "UNMEASURED" in model.pert_list_  # any gene of the table can be queried

    queries = queries_for(adata, split)
    effects = model.effects(["UNMEASURED", "G0005+G0032"])
    assert np.isfinite(effects).all() and np.abs(effects).sum() > 0
    with pytest.raises(ModelError, match="NOT_IN_TABLE"):
        model.effects(["NOT_IN_TABLE+G0005"])
    assert model.predict(queries).n_obs > 0


@pytest.mark.filterwarnings(NO_GO)
def test_targets_outside_the_graph_are_named() -> None:
    adata, split = combo_case()
    train = adata[split.mask(adata, "train")].copy()
    # without a GO table only measured genes are in the graph: an unmeasured target is refused
    table = pd.DataFrame({"gene": ["OTHER"], "go_term": ["GO:1"]})
    with pytest.raises(ModelError, match=r"none of the .* training perturbations.*G00"):
        GEARSOfficial(go_terms=table, **FAST).fit(train)
