"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import make_raw

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, tmp_path, monkeypatch) -> None:
    code = BLOCKS[index]
    if "my_screen.h5ad" in code:  # the user's own file: make one with the columns the example names
        raw = make_raw(labels=["non-targeting"] * 4 + ["A"] * 3 + ["A+B"] * 3)
        raw.obs = raw.obs.rename(columns={"condition": "guide_target", "cell_type": "cell_line"})
        raw.write_h5ad(tmp_path / "my_screen.h5ad")
        monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"readme_example_{index}"}
    exec(compile(code, f"README.md example {index}", "exec"), namespace)
    # the bring-your-own-model example: run its class through the contract
    if "MeanOfMyNeighbours" in namespace:
        from vcbench.datasets import demo
        from vcbench.runner import run_model
        from vcbench.scenarios import combo_split

        adata = demo()
        scores = run_model(
            adata, combo_split(adata, "k562"), namespace["MeanOfMyNeighbours"](), ["pdcorr"]
        )
        assert scores["value"].notna().all()
