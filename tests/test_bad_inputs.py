"""The table of bad inputs and faults that vcbench handles, each with its one-line message.

Every row: an id, how to provoke it, the error class and the start of the message a user sees
(the CLI prints exactly this message, without a traceback). ``test_bad_input`` checks each row.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import reliability_models

from vcbench.data import contract as c
from vcbench.data.loader import load_dataset
from vcbench.errors import (
    DataContractError,
    DatasetFileError,
    MetricError,
    ModelError,
    ScenarioError,
    SpecError,
    VcbenchError,
)
from vcbench.metrics import evaluate
from vcbench.metrics.files import evaluate_files
from vcbench.metrics.input_checks import ScaleWarning
from vcbench.runner import parse_spec
from vcbench.runner.store import FolderBusyError, OutputLock
from vcbench.runner.task import run_model_timed
from vcbench.scenarios import make_split

GENES = [f"G{i}" for i in range(12)]
SPEC = """\
output: {out}
datasets: [{{name: {dataset}, source: demo}}]
scenarios: [{{name: perturbation, seeds: {seeds}}}]
models: [{{name: no_change}}]
{extra}
"""


def _raw(labels: list[str], x: np.ndarray, names: list[str] | None = None) -> ad.AnnData:
    obs = pd.DataFrame({"condition": labels}, index=names or [f"c{i}" for i in range(len(labels))])
    return ad.AnnData(x.astype(np.float32), obs, pd.DataFrame(index=GENES))


def _truth_and_prediction(tmp_path: Path, only_controls: bool = False) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    labels = ["control"] * 30 + ([] if only_controls else ["A"] * 30 + ["B"] * 30)
    x = np.abs(rng.normal(1.5, 0.4, (len(labels), len(GENES))))
    truth = tmp_path / "truth.h5ad"
    _raw(labels, x).write_h5ad(truth)
    prediction = tmp_path / "prediction.h5ad"
    cells = ["A"] * 20 + ["B"] * 20
    _raw(cells, np.abs(rng.normal(1.5, 0.4, (40, len(GENES))))).write_h5ad(prediction)
    return truth, prediction


def _standard_pair(tmp_path: Path) -> tuple[ad.AnnData, ad.AnnData]:
    truth_path, prediction_path = _truth_and_prediction(tmp_path)
    truth = load_dataset(truth_path, context_key=None)
    prediction = ad.read_h5ad(prediction_path)
    prediction.obs[c.CONTEXT] = "all"
    prediction.obs[c.PERTURBATION] = prediction.obs["condition"].astype(str)
    return prediction, truth


def unwritable_out(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    # the truth does not even exist: the --out check comes before any loading or scoring
    evaluate_files(tmp_path / "p.h5ad", tmp_path / "missing.h5ad", out=blocker / "out")


def duplicated_prediction_gene(tmp_path: Path) -> None:
    prediction, truth = _standard_pair(tmp_path)
    prediction.var_names = ["G1", *GENES[1:]]
    evaluate(prediction, truth)


def counts_prediction(tmp_path: Path) -> None:
    prediction, truth = _standard_pair(tmp_path)
    prediction.X = np.round(np.expm1(prediction.X) * 30)
    evaluate(prediction, truth)


def negative_prediction(tmp_path: Path) -> None:
    prediction, truth = _standard_pair(tmp_path)
    prediction.X = -np.abs(prediction.X)
    evaluate(prediction, truth)


def slightly_negative_prediction(tmp_path: Path) -> None:
    prediction, truth = _standard_pair(tmp_path)
    prediction.X[0, 0] = -0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error", ScaleWarning)
        evaluate(prediction, truth, metrics=["rmse"])


def prediction_not_anndata(tmp_path: Path) -> None:
    _, truth = _standard_pair(tmp_path)
    evaluate(None, truth)


def controls_only_truth(tmp_path: Path) -> None:
    truth, prediction = _truth_and_prediction(tmp_path, only_controls=True)
    evaluate_files(prediction, truth, out=None)


def _damage(path: Path, offset: int, size: int = 4096) -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + size] = np.random.default_rng(1).bytes(size)
    path.write_bytes(bytes(data))


def damaged_values(tmp_path: Path) -> None:
    import h5py

    truth, _ = _truth_and_prediction(tmp_path)
    with h5py.File(truth) as handle:
        offset = handle["X"].id.get_offset()  # where the dense X's values start
    _damage(truth, offset, 256)
    load_dataset(truth, context_key=None)


def damaged_structure(tmp_path: Path) -> None:
    truth, _ = _truth_and_prediction(tmp_path)
    _damage(truth, len(truth.read_bytes()) // 3)
    load_dataset(truth, context_key=None)


def duplicate_cell_names(tmp_path: Path) -> None:
    labels = ["control"] * 4 + ["A"] * 4
    x = np.abs(np.random.default_rng(0).normal(1, 0.3, (8, len(GENES))))
    load_dataset(
        _raw(labels, x, names=["c0", "c1", "c1", *[f"x{i}" for i in range(5)]]), context_key=None
    )


def duplicate_cell_names_in_split(tmp_path: Path) -> None:
    from vcbench.datasets import demo

    data = demo()
    data.obs_names = ["same"] * 2 + list(data.obs_names[2:])
    make_split(data, "perturbation")


def negative_seed_in_spec(tmp_path: Path) -> None:
    parse_spec(SPEC.format(out=tmp_path, dataset="demo", seeds="[0, -1]", extra=""), "spec.yaml")


def negative_seed_in_make_split(tmp_path: Path) -> None:
    from vcbench.datasets import demo

    make_split(demo(), "perturbation", seed=-1)


def predict_returns_none(tmp_path: Path) -> None:
    from vcbench.datasets import demo

    data = demo()
    split = make_split(data, "perturbation", "combo", context="k562")
    run_model_timed(data, split, reliability_models.ReturnsNone(), ["rmse"])


def traversing_dataset_name(tmp_path: Path) -> None:
    parse_spec(
        SPEC.format(out=tmp_path, dataset="'../../evil_ds'", seeds="[0]", extra=""), "spec.yaml"
    )


def bad_memory_limit(tmp_path: Path) -> None:
    parse_spec(
        SPEC.format(out=tmp_path, dataset="demo", seeds="[0]", extra="memory_limit: lots"),
        "spec.yaml",
    )


def busy_output_folder(tmp_path: Path) -> None:
    with OutputLock(tmp_path):
        OutputLock(tmp_path).acquire()


@dataclass(frozen=True)
class BadInput:
    """One row of the table."""

    provoke: Callable[[Path], None]
    error: type[Exception] | type[Warning]
    message: str  # the start of the message (a regular expression)


TABLE: dict[str, BadInput] = {
    "evaluate --out not writable": BadInput(
        unwritable_out,
        VcbenchError,
        r"Cannot write to the --out folder .*/file/out: Not a directory\. Choose a folder you can write to",
    ),
    "prediction with a duplicated gene": BadInput(
        duplicated_prediction_gene,
        MetricError,
        r"The prediction has 1 gene name\(s\) that appear more than once \(e\.g\. \['G1'\]\)",
    ),
    "prediction on the count scale": BadInput(
        counts_prediction,
        MetricError,
        r"The prediction's values are far larger than the truth's \(.*\): it looks like raw or normalised counts",
    ),
    "all-negative prediction": BadInput(
        negative_prediction, MetricError, r"100% of the prediction's values are negative .*z-scores"
    ),
    "a few negative predicted values": BadInput(
        slightly_negative_prediction,
        ScaleWarning,
        r"0\.\d+% of the prediction's \(sampled\) values are negative \(min -0\.01\)",
    ),
    "prediction that is not an AnnData": BadInput(
        prediction_not_anndata, MetricError, r"The prediction must be an AnnData, got NoneType"
    ),
    "truth with only controls": BadInput(
        controls_only_truth,
        MetricError,
        r"The truth holds only control cells \(30 cells, no perturbed cell\)",
    ),
    "h5ad with damaged bytes in its structure": BadInput(
        damaged_structure,
        DatasetFileError,
        r".*truth\.h5ad could not be read as an \.h5ad \(AnnData/HDF5\) file \(it is another "
        r"format, or it is damaged or truncated\)",
    ),
    "h5ad with damaged expression values": BadInput(
        damaged_values,
        DataContractError,
        r"The expression matrix holds \d+ values that no expression data has .*probably corrupted",
    ),
    "duplicate cell names (loader)": BadInput(
        duplicate_cell_names,
        DataContractError,
        r"1 cell names appear more than once in obs_names \(e\.g\. c1\).*obs_names_make_unique\(\)",
    ),
    "duplicate cell names (split)": BadInput(
        duplicate_cell_names_in_split,
        DataContractError,
        r"1 cell names appear more than once in obs_names \(e\.g\. same\)",
    ),
    "negative seed in a spec": BadInput(
        negative_seed_in_spec,
        SpecError,
        r"The benchmark spec is invalid:\n  spec\.yaml, line 3: scenarios\.0\.seeds\.1: Input should be greater than or equal to 0",
    ),
    "negative seed in make_split": BadInput(
        negative_seed_in_make_split, ScenarioError, r"The seed must be an integer >= 0, got -1"
    ),
    "predict returns None": BadInput(
        predict_returns_none,
        ModelError,
        r"Model 'returns_none': predict\(\) returned NoneType, not an AnnData",
    ),
    "dataset name ../../evil_ds": BadInput(
        traversing_dataset_name,
        SpecError,
        r"The benchmark spec is invalid:\n  spec\.yaml, line 2: datasets\.0\.name: .*'\.\./\.\./evil_ds' cannot be used: it contains a path separator",
    ),
    "memory_limit that is not a size": BadInput(
        bad_memory_limit,
        SpecError,
        r"The benchmark spec is invalid:\n  spec\.yaml, line 5: memory_limit: .*'lots' is not a memory size",
    ),
    "second writer on an output folder": BadInput(
        busy_output_folder,
        FolderBusyError,
        rf"The output folder .* is in use by another vcbench run \(PID {os.getpid()} on host",
    ),
}


@pytest.mark.parametrize("case", list(TABLE), ids=list(TABLE))
def test_bad_input(tmp_path, case):
    row = TABLE[case]
    with pytest.raises(row.error) as caught:
        row.provoke(tmp_path)
    message = str(caught.value)
    assert re.match(row.message, message, flags=re.DOTALL), message
    assert "Traceback" not in message
    assert len(message.splitlines()) <= 2  # one line (a spec error: its header and the line)
