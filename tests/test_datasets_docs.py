"""docs/datasets.md is generated from the registry: this test fails when it is out of date."""

from __future__ import annotations

from pathlib import Path

from vcbench.datasets import REGISTRY
from vcbench.datasets.docs import render_datasets_page

PAGE = Path(__file__).resolve().parents[1] / "docs" / "datasets.md"


def test_the_datasets_page_is_up_to_date() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_datasets_page(), (
        "docs/datasets.md is out of date: run `python -m vcbench.datasets.docs docs/datasets.md`"
    )


def test_the_page_carries_every_entry_checksum_and_size() -> None:
    text = render_datasets_page()
    for spec in REGISTRY.values():
        assert f"### {spec.name}" in text
        if spec.file is not None:
            assert spec.file.url in text
            if spec.file.known_hash:
                assert spec.file.known_hash.split(":")[1] in text
            if spec.file.size_bytes:
                assert f"{spec.file.size_bytes:,} bytes" in text


def test_info_says_what_a_recipe_keeps_and_drops() -> None:
    from typer.testing import CliRunner

    from vcbench.cli import app

    result = CliRunner().invoke(app, ["datasets", "info", "kang2018_cd4t"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "keeps: As kang2018" in text and "standard split: hold out CD4 T" in text
    assert "after preparation: scGen subset: 1,975 cells" in text
