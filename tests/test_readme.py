"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import make_raw

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def documented_combo_categories() -> set[str]:
    """The split categories that the README's scenario table lists for ``perturbation / combo``."""
    row = next(
        line
        for line in README.read_text().splitlines()
        if line.startswith("| `perturbation` / `combo`")
    )
    return set(re.findall(r"`([a-z0-9_]+)`", row.split("|")[3]))


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
    if "combo_split(adata" in code:  # the split-and-score example: what the README says of it
        split, scores = namespace["split"], namespace["scores"]
        # the categories the README's scenario table lists for perturbation / combo
        assert set(split.test_conditions["split_category"]) == documented_combo_categories()
        # "A model that predicts the same thing for every perturbation scores 0.5 on pds"
        pds = scores.loc[scores["metric"] == "pds", "value"]
        assert len(pds) == len(split.test_conditions)
        # one prediction for all: its rank among the real effects runs through 0, 1/(n−1), …, 1
        # over the n conditions, so the mean is exactly 0.5 (up to float rounding)
        assert pds.mean() == pytest.approx(0.5, abs=1e-12)
        assert pds.nunique() == len(pds)
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
