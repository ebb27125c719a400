"""The benchmark spec: the example parses, and invalid specs give errors with key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcbench.errors import SpecError
from vcbench.runner.spec import EXAMPLE_SPEC, load_spec, parse_spec


def test_example_spec_parses_with_defaults() -> None:
    spec = parse_spec(EXAMPLE_SPEC)
    assert [d.name for d in spec.datasets] == ["demo"]
    assert spec.scenarios[0].seeds == [0, 1, 2]
    assert [m.result_name for m in spec.models] == ["no_change", "perturbed_mean"]
    assert spec.executor == "serial" and spec.metrics == "full"


def test_unknown_key_is_named_with_its_line() -> None:
    text = EXAMPLE_SPEC.replace("    seeds: [0, 1, 2]", "    seeds: [0, 1, 2]\n    sedes: [4]")
    line = text.splitlines().index("    sedes: [4]") + 1
    with pytest.raises(SpecError, match=rf"line {line}: scenarios\.0\.sedes: unknown key"):
        parse_spec(text)


def test_wrong_type_and_bad_choice_are_named() -> None:
    text = EXAMPLE_SPEC.replace("jobs: 2 ", "jobs: many ").replace(
        "executor: serial", "executor: slurm"
    )
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    message = str(info.value)
    assert "line 4: executor: Input should be 'serial', 'processes' or 'dask'" in message
    assert "line 5: jobs: Input should be a valid integer" in message


def test_missing_section_and_repeated_names() -> None:
    with pytest.raises(SpecError, match=r"models: Field required"):
        parse_spec("datasets: [{name: a, source: demo}]\nscenarios: [{name: combo}]\n")
    text = EXAMPLE_SPEC.replace("  - name: perturbed_mean", "  - name: no_change")
    with pytest.raises(SpecError, match=r"names must be unique; repeated: \['no_change'\]"):
        parse_spec(text)


def test_scenario_naming_an_unknown_dataset() -> None:
    text = EXAMPLE_SPEC.replace("    seeds: [0, 1, 2]", "    seeds: [0]\n    datasets: [kang]")
    with pytest.raises(SpecError, match=r"unknown dataset\(s\) \['kang'\]"):
        parse_spec(text)


def test_not_yaml_not_a_mapping_and_missing_file(tmp_path) -> None:
    with pytest.raises(SpecError, match="is not valid YAML"):
        parse_spec("datasets: [unclosed")
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        parse_spec("- just a list")
    with pytest.raises(SpecError, match=r"Spec file not found: .*vcbench init"):
        load_spec(tmp_path / "nope.yaml")


def test_the_benchmark_specs_parse_and_name_registered_models() -> None:
    from vcbench.models import model_names

    specs = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "specs").glob("*.yaml"))
    assert specs
    for path in specs:
        spec = load_spec(path)
        assert {m.name for m in spec.models} <= set(model_names()), path.name
