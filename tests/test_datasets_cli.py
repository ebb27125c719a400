"""``vcbench datasets list | info | download | prepare``."""

from __future__ import annotations

from conftest import shared_file
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.data import contract as c
from vcbench.data.loader import read_h5ad
from vcbench.datasets import REGISTRY

runner = CliRunner()


def flat(text: str) -> str:
    """Output with line wrapping undone (error messages wrap at the console width)."""
    return " ".join(text.split())


KANG = "kang2018_pbmc_ifnb_scgen/kang2018_pbmc_ifnb_scgen_valid.h5ad"
PAPALEXI = "papalexi2021_thp1_crispr_sceptre/papalexi2021_thp1_sceptre.h5ad"


def test_list_prints_the_registry_table(tmp_path) -> None:
    result = runner.invoke(app, ["datasets", "list", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for text in ("perturbation type", "licence", "cached", "CC0-1.0", "manual", *REGISTRY):
        assert text in result.output


def test_info_shows_address_checksum_and_layouts() -> None:
    result = runner.invoke(app, ["datasets", "info", "norman2019"])
    assert result.exit_code == 0, result.output
    for text in (
        "zenodo.org/records/10044268",
        "md5:c870e6967d91c017d9da827bab183cd6",
        "GSE133344",
    ):
        assert text in result.output
    assert "layout 'perturbench_devel'" in result.output


def test_prepare_from_a_local_file(tmp_path) -> None:
    out = tmp_path / "kang.h5ad"
    args = ["datasets", "prepare", "kang2018", "--from", str(shared_file(KANG)), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1,975 cells" in flat(result.output) and "7 contexts" in flat(result.output)
    assert "fingerprint" in result.output
    assert c.is_standardised(read_h5ad(out))


def test_prepare_with_a_mapping_override(tmp_path) -> None:
    out = tmp_path / "papalexi.h5ad"
    args = ["datasets", "prepare", "papalexi2021", "--from", str(shared_file(PAPALEXI))]
    result = runner.invoke(app, [*args, "--out", str(out), "--map", "context=bio_rep"])
    assert result.exit_code == 0, result.output
    assert "3 contexts" in flat(result.output)
    bad = runner.invoke(app, [*args, "--out", str(out), "--map", "context"])
    assert bad.exit_code == 2 and "is not ROLE=COLUMN" in flat(bad.output)


def test_prepare_refuses_the_wrong_dataset(tmp_path) -> None:
    out = tmp_path / "x.h5ad"
    args = [
        "datasets",
        "prepare",
        "kang2018",
        "--from",
        str(shared_file(PAPALEXI)),
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "does not look like kang2018" in flat(result.output)
    assert "Traceback" not in result.output
    assert not out.exists()


def test_download_with_a_bad_mirror_file_fails_cleanly(tmp_path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / REGISTRY["adamson2016_pilot"].file.filename).write_bytes(b"wrong bytes")
    args = ["datasets", "download", "adamson2016_pilot", "--cache-dir", str(tmp_path / "cache")]
    result = runner.invoke(app, [*args, "--mirror", str(mirror)])
    assert result.exit_code == 2
    assert "differs from the published one" in flat(result.output)
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))
