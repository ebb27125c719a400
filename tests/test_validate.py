"""Whole-spec validation: every problem of a spec at once, with did-you-mean, before anything runs."""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

from vcbench.cli import app
from vcbench.errors import SpecError
from vcbench.runner import parse_spec, run_benchmark
from vcbench.runner.validate import spec_problems, validate_spec

runner = CliRunner()

THREE_MISTAKES = """\
output: {out}
metrics: [rmse, pdcor]
datasets:
  - name: demo
    source: demo
scenarios:
  - name: perturbation
    variant: comb
    options: {{context: k562}}
    seeds: [0]
models:
  - name: no_chnage
"""


def _spec(body: str, tmp_path) -> object:
    return parse_spec(textwrap.dedent(body).format(out=tmp_path / "out"))


def test_three_mistakes_are_listed_in_one_error_before_anything_runs(tmp_path) -> None:
    spec = _spec(THREE_MISTAKES, tmp_path)
    with pytest.raises(SpecError) as caught:
        run_benchmark(spec)
    message = str(caught.value)
    assert "3 problems" in message
    assert "unknown metric 'pdcor' (did you mean 'pdcorr'?)" in message
    assert "no variant 'comb' (did you mean 'combo'?)" in message
    assert "unknown model 'no_chnage' (did you mean 'no_change'?)" in message
    assert not (tmp_path / "out").exists()  # nothing was split or written


def test_the_cli_names_the_line_of_each_problem(tmp_path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(THREE_MISTAKES.format(out=tmp_path / "out"))
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert f"{path}, line 2: metrics" in result.output
    assert f"{path}, line 8: scenarios.0.variant" in result.output
    assert f"{path}, line 12: models.0.name" in result.output
    assert "Traceback" not in result.output


def test_params_are_checked_against_the_constructor(tmp_path) -> None:
    spec = _spec(
        """\
        output: {out}
        datasets: [{{name: demo, source: demo}}]
        scenarios: [{{name: perturbation, variant: single}}]
        models:
          - name: linear
            params: {{ridg: 0.1, seed: 1}}
        """,
        tmp_path,
    )
    (problem,) = spec_problems(spec)
    assert problem.key == "models.0.params"
    assert "'ridg' is not a parameter of Linear (did you mean 'ridge'?)" in problem.message


def test_import_paths_options_sources_and_seeds(tmp_path, monkeypatch) -> None:
    module = tmp_path / "my_models.py"
    module.write_text(
        "from vcbench.models.baselines import NoChange\n"
        "class NotAModel:\n    pass\n"
        "class Needs(NoChange):\n    name = 'needs'\n"
        "    def __init__(self, alpha):\n        super().__init__()\n        self.alpha = alpha\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = _spec(
        """\
        output: {out}
        datasets:
          - {{name: demo, source: demo}}
          - {{name: mine, source: no/such/file.h5ad}}
        scenarios:
          - {{name: context, variant: random, options: {{test_fractoin: 0.5}}}}
          - {{name: contxt}}
        models:
          - name: my_models:NotAModel
          - name: my_models:Needs
          - name: my_models:Missing
        """,
        tmp_path,
    )
    messages = {p.key: p.message for p in spec_problems(spec)}
    assert "or an existing file" in messages["datasets.1.source"]
    assert "(did you mean 'test_fraction'?)" in messages["scenarios.0.options.test_fractoin"]
    assert "(did you mean 'context'?)" in messages["scenarios.1.name"]
    assert "not a subclass of vcbench.models.PerturbationModel" in messages["models.0.name"]
    assert "Needs needs the parameter 'alpha'" in messages["models.1.params"]
    assert "Cannot import model 'my_models:Missing'" in messages["models.2.name"]


def test_obs_columns_of_a_file_are_checked(tmp_path) -> None:
    from tests.conftest import make_raw

    path = tmp_path / "data.h5ad"
    make_raw().write_h5ad(path)
    spec = _spec(
        f"""\
        output: {{out}}
        datasets:
          - {{{{name: mine, source: {path}, perturbation_key: conditon, context_key: cell_type}}}}
        scenarios: [{{{{name: perturbation}}}}]
        models: [{{{{name: no_change}}}}]
        """,
        tmp_path,
    )
    (problem,) = spec_problems(spec)
    assert problem.key == "datasets.0.perturbation_key"
    assert "no obs column 'conditon' (did you mean 'condition'?)" in problem.message


def test_prediction_patterns_are_checked_and_missing_files_listed_by_the_dry_run(tmp_path) -> None:
    spec = _spec(
        """\
        output: {out}
        datasets: [{{name: demo, source: demo}}]
        scenarios: [{{name: perturbation, variant: single, seeds: [0, 1]}}]
        models:
          - {{name: mine, predictions: "preds/{{split}}.h5ad"}}
          - {{name: other, predictions: "preds/{{splt}}.h5ad"}}
        """,
        tmp_path,
    )
    messages = {p.key: p.message for p in spec_problems(spec)}
    assert list(messages) == ["models.1.predictions"]
    assert "unknown placeholder(s) ['splt']" in messages["models.1.predictions"]
    from vcbench.runner.overrides import apply_overrides
    from vcbench.runner.plan import plan

    narrowed, _ = apply_overrides(spec, models=["mine"], settings={"calibration": False})
    tasks = plan(narrowed)
    assert list(tasks["status"]) == ["no predictions file"] * 2


def test_a_missing_extra_prints_its_install_hint_intact(tmp_path, monkeypatch) -> None:
    """Rich markup would eat ``[torch]``; the message must print literally."""
    import vcbench.models.registry as registry

    monkeypatch.setattr(registry, "extra_installed", lambda extra: extra is None)
    path = tmp_path / "spec.yaml"
    path.write_text(
        f"output: {tmp_path / 'out'}\ndatasets: [{{name: demo, source: demo}}]\n"
        "scenarios: [{name: perturbation}]\nmodels: [{name: cpa}]\n"
    )
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code == 2
    assert 'pip install "vcbench[torch]"' in result.output
    with pytest.raises(SpecError, match=r'pip install "vcbench\[torch\]"'):
        validate_spec(parse_spec(path.read_text()))


def test_a_valid_spec_has_no_problems() -> None:
    from vcbench.runner import demo_spec

    assert spec_problems(demo_spec()) == []


def test_an_obs_query_is_evaluated_on_the_files_obs(tmp_path) -> None:
    from tests.conftest import make_raw

    path = tmp_path / "data.h5ad"
    make_raw().write_h5ad(path)
    body = f"""\
        output: {{out}}
        datasets:
          - {{{{name: good, source: {path}, obs_query: 'cell_type == "k1"'}}}}
          - {{{{name: bad, source: {path}, obs_query: 'celltype == "k1"'}}}}
        scenarios: [{{{{name: perturbation}}}}]
        models: [{{{{name: no_change}}}}]
        """
    (problem,) = spec_problems(_spec(body, tmp_path))
    assert problem.key == "datasets.1.obs_query"
    assert "cannot be evaluated" in problem.message and "celltype" in problem.message
