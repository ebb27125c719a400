"""``vcbench run`` overrides (recorded in run.json) and ``--dry-run``; the shared option style."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.cli.app import as_flags
from vcbench.cli.options import controls, metrics, split_list
from vcbench.errors import SpecError
from vcbench.runner import demo_spec
from vcbench.runner.overrides import apply_overrides

runner = CliRunner()


def test_overrides_narrow_and_set_dotted_keys() -> None:
    spec, record = apply_overrides(
        demo_spec(),
        models=["linear", "cpa"],
        scenarios=["perturbation/single", "context"],
        seeds=[0, 1],
        assignments=["jobs=4", "models.linear.params.ridge=0.5", "scenarios.0.options.fold=1"],
    )
    assert [m.name for m in spec.models] == ["linear", "cpa"]  # cpa: a new entry
    assert spec.models[0].params == {"ridge": 0.5}
    assert [(s.name, s.variant) for s in spec.scenarios] == [
        ("perturbation", "single"),
        ("context", "random"),
        ("context", "strict"),
    ]
    assert all(s.seeds == [0, 1] for s in spec.scenarios)
    assert spec.scenarios[0].options == {"n_folds": 5, "fold": 1}
    assert spec.jobs == 4
    assert record["set"] == {
        "jobs": 4,
        "models.linear.params.ridge": 0.5,
        "scenarios.0.options.fold": 1,
    }


def test_bad_overrides_are_plain_errors() -> None:
    with pytest.raises(SpecError, match=r"matches no entry \(did you mean 'linear'\?\)"):
        apply_overrides(demo_spec(), assignments=["models.linaer.params.ridge=1"])
    with pytest.raises(SpecError, match="not KEY=VALUE"):
        apply_overrides(demo_spec(), assignments=["jobs"])
    with pytest.raises(SpecError, match=r"jobs: Input should be greater than or equal to 1"):
        apply_overrides(demo_spec(), assignments=["jobs=0"])
    with pytest.raises(SpecError, match=r"defines no such dataset \(did you mean 'demo'\?\)"):
        apply_overrides(demo_spec(), datasets=["dem"])


def test_dry_run_lists_the_grid_and_the_reused_tasks(tmp_path) -> None:
    base = ["run", "--out", str(tmp_path), "--seeds", "0", "--scenarios", "perturbation/single"]
    narrowed = [*base, "--models", "no_change", "--set", "calibration=false", "--metrics", "rmse"]
    dry = runner.invoke(app, [*narrowed, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "1 tasks: 0 reused, 1 to run; 1 splits, 1 to make" in dry.output
    assert not (tmp_path / "run.json").exists()  # a dry run writes nothing
    done = runner.invoke(app, narrowed)
    assert done.exit_code == 0, done.output
    metadata = json.loads((tmp_path / "run.json").read_text())
    assert metadata["overrides"]["models"] == ["no_change"]
    assert metadata["overrides"]["set"] == {"calibration": False}
    assert metadata["spec"]["metrics"] == "rmse"
    assert [m["name"] for m in metadata["spec"]["models"]] == ["no_change"]
    wider = [*base, "--models", "no_change,additive", "--set", "calibration=false"]
    again = runner.invoke(app, [*wider, "--metrics", "rmse", "--dry-run"])
    assert "2 tasks: 1 reused, 1 to run; 1 splits, 0 to make" in again.output


def test_controls_are_repeatable_and_comma_separated_alike() -> None:
    assert controls(["a,b", "c"]) == controls(["a", "b", "c"]) == ["a", "b", "c"]
    assert controls(None) == ["control"]
    assert split_list("0, 1") == ["0", "1"]
    assert metrics("paper") == "paper" and metrics("rmse,pds") == ["rmse", "pds"]


def test_errors_name_the_flag_on_the_command_line() -> None:
    message = "Check perturbation_key= and the control label; pass `context_key`."
    flagged = as_flags(message, ["perturbation_key", "context_key", "control"])
    assert flagged == "Check --perturbation-key and the control label; pass --context-key."


def test_evaluate_and_split_share_the_option_names_and_defaults() -> None:
    for command in ("evaluate", "split"):
        text = runner.invoke(app, [command, "--help"], terminal_width=200).output
        for flag in ("--perturbation-key", "--context-key", "--control"):
            assert flag in text, (command, flag)
        assert "cell_type" in text and "condition" in text
    assert "--metrics" in runner.invoke(app, ["evaluate", "--help"], terminal_width=200).output


def test_the_consoles_print_text_literally() -> None:
    from vcbench.cli.app import console, errors

    for target in (console, errors):
        with target.capture() as captured:
            target.print('pip install "vcbench[torch]" [bold]x[/]')
        assert captured.get().strip() == 'pip install "vcbench[torch]" [bold]x[/]'


def test_override_errors_name_the_flag_on_the_command_line(tmp_path) -> None:
    result = runner.invoke(app, ["run", "--out", str(tmp_path), "--datasets", "dem", "--dry-run"])
    assert result.exit_code == 2
    assert "--datasets ['dem']: the spec defines no such dataset (did you mean 'demo'?)" in (
        result.output
    )
    with pytest.raises(SpecError, match=r"^datasets=\['dem'\]"):
        apply_overrides(demo_spec(), datasets=["dem"])
