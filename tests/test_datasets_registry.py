"""The dataset registry: complete entries, consistent mappings, nothing fetched at import."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from vcbench.datasets import REGISTRY, get_spec, list_datasets
from vcbench.errors import DataContractError

ISSUE_DATASETS = {
    "norman2019",
    "replogle2022_k562_essential",
    "replogle2022_rpe1",
    "adamson2016_pilot",
    "adamson2016_upr",
    "srivatsan2020_sciplex3",
    "mcfarland2020",
    "kang2018",
    "papalexi2021",
    "frangieh2021",
    "tahoe100m",
}


def test_the_registry_has_every_dataset_of_the_issue() -> None:
    assert set(REGISTRY) >= ISSUE_DATASETS


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_each_entry_is_complete(name: str) -> None:
    spec = REGISTRY[name]
    assert spec.name == name
    assert spec.title and spec.description and spec.licence and spec.citation and spec.accession
    assert spec.sources, "at least one source layout"
    assert len({s.name for s in spec.sources}) == len(spec.sources)
    if spec.file is None:
        assert spec.manual_download, "an entry without a file explains how to build it"
    else:
        assert spec.file.url.startswith("https://")
        assert spec.file.filename and "/" not in spec.file.filename
        if spec.file.known_hash is not None:
            assert re.fullmatch(r"md5:[0-9a-f]{32}", spec.file.known_hash)
            assert spec.file.checksum_source != "none found"
    for source in spec.sources:
        cols = source.columns
        assert cols.perturbation and cols.control
        assert all(label for label in cols.control)


def test_scperturb_layouts_use_scperturbs_column_names() -> None:
    for spec in REGISTRY.values():
        for source in spec.sources:
            if source.name == "scperturb":
                assert source.columns.perturbation == "perturbation"
                assert source.columns.control == ("control",)
                assert spec.file is not None and "zenodo.org/records/" in spec.file.url


def test_compound_screens_map_the_dose_and_do_not_split_names_on_plus() -> None:
    for name in ("srivatsan2020_sciplex3", "mcfarland2020"):
        cols = REGISTRY[name].default_source.columns
        assert cols.dose == "dose_value"
        assert cols.combination_delimiter is None


def test_an_unknown_name_lists_the_registry() -> None:
    with pytest.raises(DataContractError, match=r"No registry dataset called 'nope'.*norman2019"):
        get_spec("nope")
    assert get_spec("NORMAN2019").name == "norman2019"


def test_an_unknown_layout_lists_the_layouts() -> None:
    with pytest.raises(DataContractError, match=r"no source layout 'x'.*pertpy, scgen"):
        get_spec("kang2018").source("x")


def test_list_marks_cached_files(tmp_path) -> None:
    table = list_datasets(tmp_path)
    assert list(table.columns) == [
        "name",
        "perturbation type",
        "cells",
        "perturbations",
        "contexts",
        "size",
        "licence",
        "cached",
    ]
    assert set(table["name"]) == set(REGISTRY)
    assert set(table["cached"]) == {"no", "manual"}
    raw = tmp_path / "datasets" / "raw"
    raw.mkdir(parents=True)
    (raw / REGISTRY["norman2019"].file.filename).write_bytes(b"x")
    cached = list_datasets(tmp_path).set_index("name")["cached"]
    assert cached["norman2019"] == "yes"
    assert cached["tahoe100m"] == "manual"


def test_importing_the_package_fetches_nothing(tmp_path) -> None:
    code = (
        "import sys, vcbench.datasets; "
        "assert 'pooch' not in sys.modules and 'requests' not in sys.modules"
    )
    env = {"VCBENCH_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert not (tmp_path / "cache").exists()
