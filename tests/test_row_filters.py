"""Row filters (``obs_query``): the function, `vcbench datasets prepare`, `vcbench split` and a
spec's dataset entry; counts kept and dropped are printed and recorded; bad queries are errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from conftest import shared_file
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.data import contract as c
from vcbench.data.fingerprint import fingerprint
from vcbench.data.loader import read_h5ad
from vcbench.data.obs_query import apply_obs_query, query_mask
from vcbench.datasets import demo, demo_path, prepare
from vcbench.errors import DataContractError
from vcbench.scenarios.io import load_split

PAPALEXI = "papalexi2021_thp1_crispr_sceptre/papalexi2021_thp1_sceptre.h5ad"
runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


def _obs() -> pd.DataFrame:
    return pd.DataFrame(
        {"time": [6, 24, 24, 6], "cell quality": ["normal", "normal", "doublet", "normal"]},
        index=list("abcd"),
    )


def test_query_mask_matches_pandas_query() -> None:
    obs = _obs()
    for query in ("time == 24", '`cell quality` == "normal" and time < 10', "time in [6]"):
        expected = obs.index.isin(obs.query(query, engine="python").index)
        assert query_mask(obs, query).tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("time ==", "cannot be evaluated"),
        (
            "dose > 3",
            r"cannot be evaluated.*name 'dose' is not defined.*columns: time, cell quality",
        ),
        ("time + 1", "does not give True/False per cell"),
        ("  ", "is empty"),
    ],
)
def test_a_bad_query_is_a_one_line_error(query, message) -> None:
    with pytest.raises(DataContractError, match=message) as error:
        query_mask(_obs(), query, "test.h5ad")
    assert "\n" not in str(error.value)


def test_apply_records_counts_and_refreshes_the_fingerprint() -> None:
    data = demo()
    before = data.n_obs
    kept, record = apply_obs_query(data, 'dataset == "norman19"', "the demo")
    expected = int((data.obs["dataset"].astype(str) == "norman19").sum())
    assert record == {
        "query": 'dataset == "norman19"',
        "where": "the demo",
        "cells_before": before,
        "cells_kept": expected,
        "cells_dropped": before - expected,
    }
    assert kept.n_obs == expected
    assert kept.uns[c.UNS_KEY]["row_filters"]["00"] == record
    if "fingerprint" in data.uns[c.UNS_KEY]:
        assert kept.uns[c.UNS_KEY]["fingerprint"] == fingerprint(kept)
    with pytest.raises(DataContractError, match="keeps no cell"):
        apply_obs_query(data, 'dataset == "nothing"')


def test_prepare_with_a_query_keeps_and_records_it(tmp_path) -> None:
    path = shared_file(PAPALEXI)
    raw = read_h5ad(path)
    prepared = prepare("papalexi2021", path, obs_query="bio_rep == 'rep_2'")
    record = prepared.uns[c.UNS_KEY]["row_filters"]["00"]
    assert record["cells_before"] == raw.n_obs == 20729
    assert record["cells_kept"] == int((raw.obs["bio_rep"] == "rep_2").sum())
    assert set(prepared.obs["bio_rep"]) == {"rep_2"}
    # the same cells as filtering by hand, then preparing
    by_hand = prepare(
        "papalexi2021", _write(raw[(raw.obs["bio_rep"] == "rep_2").to_numpy()].copy(), tmp_path)
    )
    assert list(prepared.obs_names) == list(by_hand.obs_names)


def _write(adata: ad.AnnData, tmp_path) -> str:
    path = tmp_path / "subset.h5ad"
    adata.write_h5ad(path)
    return str(path)


def test_cli_prepare_refuses_a_bad_query(tmp_path) -> None:
    args = ["datasets", "prepare", "papalexi2021", "--from", str(shared_file(PAPALEXI))]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "x.h5ad"), "--obs-query", "rep=="])
    assert result.exit_code == 2
    assert "cannot be evaluated" in _flat(result.output)
    assert not (tmp_path / "x.h5ad").exists()


def test_cli_split_prints_and_records_the_filter(tmp_path) -> None:
    out = tmp_path / "split.parquet"
    query = 'dataset == "norman19"'
    args = ["split", str(demo_path()), "--dataset-key", "dataset", "--scenario", "perturbation"]
    result = runner.invoke(app, [*args, "--out", str(out), "--obs-query", query])
    assert result.exit_code == 0, result.output
    obs = read_h5ad(demo_path()).obs
    kept = int((obs["dataset"].astype(str) == "norman19").sum())
    assert f"kept {kept:,} of {len(obs):,} cells ({len(obs) - kept:,} dropped)" in _flat(
        result.output
    )
    info = load_split(out).info
    assert info["row_filters"][0]["cells_kept"] == kept
    bad = runner.invoke(app, [*args, "--out", str(out), "--obs-query", "nonsense > 1"])
    assert bad.exit_code == 2 and "cannot be evaluated" in _flat(bad.output)


def test_a_spec_dataset_entry_filters_its_cells(capsys) -> None:
    from vcbench.runner.benchmark import load_entry
    from vcbench.runner.spec import DatasetEntry

    entry = DatasetEntry(name="devel", source="demo", obs_query='dataset == "norman19"')
    data = load_entry(entry)
    full = demo()
    expected = int((full.obs["dataset"].astype(str) == "norman19").sum())
    assert data.n_obs == expected
    assert data.uns[c.UNS_KEY]["row_filters"]["00"]["cells_dropped"] == full.n_obs - expected
    assert f"kept {expected:,} of {full.n_obs:,}" in _flat(capsys.readouterr().err)
    assert np.all(data.obs["dataset"].astype(str) == "norman19")
    with pytest.raises(DataContractError, match="cannot be evaluated"):
        load_entry(DatasetEntry(name="devel", source="demo", obs_query="dataset =="))
