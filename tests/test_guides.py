"""The guides' Python examples (docs/guides/*.md) run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

GUIDES = sorted((Path(__file__).resolve().parents[1] / "docs" / "guides").glob("*.md"))
BLOCKS = [
    (guide.name, number, code)
    for guide in GUIDES
    for number, code in enumerate(re.findall(r"```python\n(.*?)```", guide.read_text(), re.S))
]


def test_every_guide_is_there() -> None:
    names = {g.name for g in GUIDES}
    assert {
        "add-a-metric.md",
        "add-a-scenario.md",
        "add-a-dataset-recipe.md",
        "bring-your-own-model.md",
        "split-file-outside-vcbench.md",
    } <= names


@pytest.mark.parametrize(
    ("guide", "number", "code"), BLOCKS, ids=[f"{g}-{n}" for g, n, _ in BLOCKS]
)
def test_guide_example_runs(guide: str, number: int, code: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{guide} example {number}", "exec"), {"__name__": f"guide_{number}"})
