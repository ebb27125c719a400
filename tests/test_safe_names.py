"""Labels that become paths (dataset, scenario, variant, model) are checked: no traversal."""

from __future__ import annotations

import re

import pytest

from vcbench.errors import SpecError
from vcbench.names import UnsafeNameError, check_path_label, unsafe_reason
from vcbench.runner.grid import SplitJob
from vcbench.runner.spec import DatasetEntry, ScenarioEntry, parse_spec

SPEC = """\
datasets:
  - name: {dataset}
    source: demo
scenarios:
  - name: perturbation
    variant: {variant}
models:
  - name: no_change
    label: {label}
"""


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("../../x", "path separator"),
        ("..", "starts with a dot"),
        (".hidden", "starts with a dot"),
        ("a\\b", "path separator"),
        ("/etc", "path separator"),
        ("", "empty"),
        ("tab\there", "control character"),
        ("x" * 200, "longer than"),
    ],
)
def test_unsafe_labels_are_refused_with_the_reason(label, reason):
    assert reason in unsafe_reason(label)
    with pytest.raises(UnsafeNameError, match=r"cannot be used: .*e\.g\. 'norman_2019'"):
        check_path_label(label, "dataset name")


@pytest.mark.parametrize(
    "label", ["norman_2019", "K562 v2", "linear(alpha=1)", "a.b", "pkg.mod:Model"]
)
def test_ordinary_labels_pass_unchanged(label):
    assert check_path_label(label) == label


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("datasets.0.name", {"dataset": "'../../evil_ds'", "variant": "combo", "label": "m"}),
        ("scenarios.0.variant", {"dataset": "demo", "variant": "'../up'", "label": "m"}),
        ("models.0", {"dataset": "demo", "variant": "combo", "label": "'../../m'"}),
    ],
)
def test_a_spec_with_a_traversing_label_is_refused_with_its_line(field, values):
    with pytest.raises(SpecError) as error:
        parse_spec(SPEC.format(**values), "bad.yaml")
    message = str(error.value)
    assert "bad.yaml, line" in message and field in message and "path separator" in message


def test_placeholders_and_folders_refuse_labels_that_skipped_validation():
    # model_construct skips pydantic validation, as a careless API user might
    dataset = DatasetEntry.model_construct(name="../../x", source="demo")
    job = SplitJob("id", dataset, ScenarioEntry(name="perturbation"), 0)
    with pytest.raises(UnsafeNameError, match=re.escape("'../../x'")):
        _ = job.folder
    with pytest.raises(UnsafeNameError):
        job.predictions_path("preds/{dataset}/p.h5ad")
    good = SplitJob(
        "id", DatasetEntry(name="demo", source="demo"), ScenarioEntry(name="perturbation"), 1
    )
    assert good.folder == "demo/perturbation-default/seed1"
    assert (
        str(good.predictions_path("p/{split}/x.h5ad")) == "p/demo/perturbation-default/seed1/x.h5ad"
    )
