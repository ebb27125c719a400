"""The seed paper's protocols as specs (benchmarks/paper): they parse, name registered models and
registry datasets, and say in their header what they reproduce."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vcbench.runner.spec import load_spec

PAPER = Path(__file__).resolve().parents[1] / "benchmarks" / "paper"
SPECS = sorted(PAPER.glob("*.yaml"))
SMALL = sorted((PAPER / "small").glob("*.yaml"))


def test_one_spec_per_figure_and_small_variants_exist() -> None:
    figures = {path.name.split("_")[0] for path in SPECS}
    assert figures == {"fig2", "fig3", "fig4", "fig5"}
    assert len(SMALL) >= 3


@pytest.mark.parametrize("path", SPECS + SMALL, ids=lambda p: p.name)
def test_paper_spec_parses_and_names_registered_models(path: Path) -> None:
    from vcbench.datasets import REGISTRY
    from vcbench.models import model_names

    spec = load_spec(path)
    assert {m.name for m in spec.models} <= set(model_names())
    header = path.read_text().split("\noutput:")[0]
    assert "seed paper's Fig." in header, "the header says which figure it reproduces"
    assert "vcbench run benchmarks/paper/" in header, "the header gives the command"
    for dataset in spec.datasets:
        source = dataset.source
        if source.endswith(".h5ad"):
            # small variants read the shared real data; full ones a file the header prepares
            assert source.startswith(("../shared/data/", "data/")), source
        else:
            assert source in REGISTRY or source == "demo", source


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.name)
def test_small_variants_use_only_models_a_small_machine_runs(path: Path) -> None:
    """The numpy baselines, and trained models that need only the torch extra and fit a small
    dataset in seconds to a minute on one core (not gears or state, nor the adapters' packages);
    a spec with trained models states its time in the header."""
    spec = load_spec(path)
    simple = {"no_change", "perturbation_mean", "additive", "linear", "random_perturbation"}
    from vcbench.models.registry import LAZY_MODELS

    torch_only = {n for n, (_, extra) in LAZY_MODELS.items() if extra == "torch"}
    trained = {"genepert"} | torch_only - {"gears", "state"}  # those two take minutes per task
    names = {m.name for m in spec.models}
    assert names <= simple | trained
    if names & trained:
        header = path.read_text().split("\noutput:")[0]
        assert re.search(r"\b\d+ min", header), "the header states the time"
