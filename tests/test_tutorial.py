"""The tutorial script (docs/guides/tutorial.py) runs end to end on the demo data."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "guides" / "tutorial.py"


def test_the_tutorial_runs_end_to_end(tmp_path, capsys) -> None:
    spec = importlib.util.spec_from_file_location("vcbench_tutorial", TUTORIAL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shown = module.main(tmp_path)
    printed = capsys.readouterr().out
    lines = shown["distance"]
    assert list(lines.index) == ["A172", "T98G", "U87MG"]
    np.testing.assert_allclose(lines.to_numpy(), lines.to_numpy().T)
    assert (np.diag(lines) == 0).all() and (lines.to_numpy()[~np.eye(3, dtype=bool)] > 0).all()
    assert {"no_change", "additive", "linear", "perturbed_mean", "technical_replicate"} <= set(
        shown["means"].index
    )
    assert (tmp_path / "benchmark" / "results.parquet").exists()
    assert np.isfinite(shown["own"].query("metric == 'rmse'")["value"]).all()
    pds = shown["scores"].query("metric == 'pds'")["value"].dropna()
    assert len(pds) and pds.between(0, 1).all()
    assert {"pearson_delta", "discrimination_score_l1"} <= set(shown["cell_eval"].columns)
    assert "ShrunkMean() -> ShrunkMean(alpha=0.8)" in printed
