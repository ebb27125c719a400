"""Models that cannot represent what a scenario holds out are not applicable there: the registry
says so and why, ``run_model`` refuses before fitting, and the runner records the task as
``not_applicable`` (with the reason) instead of fitting, failing or scoring it."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.data.simulate import simulate
from vcbench.errors import NotApplicableError
from vcbench.models import get_model
from vcbench.models.registry import model_names, not_applicable_reason
from vcbench.runner import run_model
from vcbench.runner.failures import not_applicable_table, not_applicable_text
from vcbench.scenarios import make_split
from vcbench.scenarios.registry import SCENARIOS, UNSEEN_IN_TEST, unseen_in_test

ONE_HOT_MODELS = {"linear_additive", "latent_additive", "decoder_only"}


def test_unseen_in_test_names_what_each_scenario_holds_out_whole() -> None:
    assert unseen_in_test("perturbation") == "perturbation"  # the default variant: single
    assert unseen_in_test("perturbation", "chemical") == "perturbation"
    assert unseen_in_test("perturbation", "combo") == "combination"
    assert unseen_in_test("context") == "context"
    assert unseen_in_test("context", "few_shot") is None  # a few of its perturbations train
    assert unseen_in_test("perturbation", "dose") is None
    assert unseen_in_test("cross_dataset", "transfer") is None
    assert unseen_in_test("no_such_scenario") is None
    for scenario, variant in UNSEEN_IN_TEST:  # every entry names a real scenario variant
        assert variant in SCENARIOS[scenario]


def test_with_default_settings_only_the_one_hot_models_are_not_applicable_to_unseen_singles() -> (
    None
):
    pytest.importorskip("torch")
    blocked = {
        name for name in model_names() if not_applicable_reason(name, {}, "perturbation", "single")
    }
    installed_scgen = {"scgen"} & blocked  # pertpy is an optional extra
    assert blocked - installed_scgen == ONE_HOT_MODELS
    reason = not_applicable_reason("linear_additive", {}, "perturbation", "single")
    assert "features='onehot'" in reason and "unseen perturbation has none" in reason


@pytest.mark.parametrize("name", sorted(ONE_HOT_MODELS))
def test_a_one_hot_model_is_applicable_with_a_representation_or_where_its_targets_were_seen(
    name: str,
) -> None:
    pytest.importorskip("torch")
    given = {"features": "onehot+embedding"}
    assert not_applicable_reason(name, given, "perturbation", "single") is None
    assert not_applicable_reason(name, {"embedding": "onehot"}, "perturbation", "chemical")
    assert not_applicable_reason(name, {}, "perturbation", "combo") is None  # parts may be seen
    assert not_applicable_reason(name, {}, "context", "random") is None
    assert not_applicable_reason(name, {}, "perturbation", "dose") is None


def test_deep_models_follow_their_features_and_gears_its_graph() -> None:
    pytest.importorskip("torch")
    assert not_applicable_reason("cpa", {}, "perturbation", "single") is None
    assert "one-hot" in not_applicable_reason("cpa", {"features": "onehot"}, "perturbation")
    # GEARS's features default to one-hot, but its perturbations are nodes of the GO graph
    assert not_applicable_reason("gears", {"features": "onehot"}, "perturbation") is None
    assert not_applicable_reason("no_change", {}, "perturbation") is None
    assert not_applicable_reason("not_a_model", {}, "perturbation") is None  # reported elsewhere


def test_scgen_is_not_applicable_to_perturbations_without_training_cells() -> None:
    pytest.importorskip("pertpy")
    assert "training cells of the perturbation" in not_applicable_reason(
        "scgen", {}, "perturbation", "combo"
    )
    assert not_applicable_reason("scgen", {}, "context", "random") is None


def test_run_model_refuses_a_model_that_is_not_applicable_before_fitting() -> None:
    pytest.importorskip("torch")
    adata = simulate(
        n_contexts=1, n_genes=40, n_combinations=0, cells_per_condition=20, seed=0
    ).adata
    split = make_split(adata, "perturbation", "single", seed=0)
    model = get_model("linear_additive", n_epochs=1)
    with pytest.raises(NotApplicableError, match=r"not applicable to perturbation/single"):
        run_model(adata, split, model, ["pdcorr"])
    assert not hasattr(model, "net_")  # nothing was fitted
    scores = run_model(
        adata,
        split,
        get_model("linear_additive", n_epochs=1, features="onehot+embedding", embedding="pca"),
        ["pdcorr"],
    )
    assert len(scores) > 0


SPEC = """\
output: {out}
metrics: [pdcorr]
calibration: false
datasets: [{{name: demo, source: demo}}]
scenarios: [{{name: perturbation, variant: single, seeds: [0]}}]
models:
  - name: perturbed_mean
  - {{name: linear_additive, params: {{n_epochs: 1}}}}
"""


def test_the_runner_records_a_not_applicable_task_and_keeps_it_on_a_rerun(tmp_path) -> None:
    pytest.importorskip("torch")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(out=tmp_path / "out"))
    dry = CliRunner().invoke(app, ["run", str(spec), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "not applicable" in dry.output

    result = CliRunner().invoke(app, ["run", str(spec)])
    assert result.exit_code == 0, result.output  # skipped is not failed
    assert "1 task(s) not applicable, not fitted:" in result.output
    assert "linear_additive on 1 task(s): linear_additive is not applicable" in result.output
    records = pd.read_parquet(tmp_path / "out" / "records.parquet")
    by_model = records.set_index("model")
    assert by_model.loc["linear_additive", "status"] == "not_applicable"
    assert "features='onehot'" in by_model.loc["linear_additive", "error"]
    assert pd.isna(pd.to_numeric(by_model.loc["linear_additive", "fit_seconds"]))
    assert by_model.loc["perturbed_mean", "status"] == "ok"
    results = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert set(results["model"]) == {"perturbed_mean"}
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert (
        "1 task(s) not applicable, not fitted (linear_additive on perturbation/single)" in markdown
    )
    assert "failed" not in markdown.split("## ")[0]  # the summary counts no failure

    again = CliRunner().invoke(app, ["run", str(spec), "--dry-run"])
    assert again.output.count("reused") >= 2, again.output  # both tasks are finished


def test_not_applicable_table_and_text() -> None:
    records = pd.DataFrame(
        {
            "status": ["not_applicable", "ok", "failed", "not_applicable"],
            "error": ["r1", None, "E", "r1"],
            "dataset": ["d"] * 4,
            "scenario": ["perturbation"] * 4,
            "variant": ["single", "single", "single", "strict"],
            "seed": [0, 0, 0, 1],
            "model": ["m", "n", "o", "m"],
        }
    )
    table = not_applicable_table(records)
    assert table["task"].tolist() == [
        "d / perturbation seed 0 (single)",
        "d / perturbation seed 1 (strict)",
    ]
    assert not_applicable_text(table) == (
        "2 task(s) not applicable, not fitted:\n  m on 2 task(s): r1"
    )
    assert not_applicable_text(not_applicable_table(records.iloc[[1, 2]])) == ""
