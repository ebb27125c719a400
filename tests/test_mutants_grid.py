"""runner/grid.py pinned (the mutants that survived the runner tests): which splits and tasks a spec
expands to, what identifies each, and the folders and files they use. Fast, in-process: no task
runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import vcbench
from vcbench.names import UnsafeNameError
from vcbench.runner.grid import (
    CALIBRATION_MODELS,
    models_of,
    resolve_model,
    split_jobs,
    tasks_for,
)
from vcbench.runner.spec import ModelEntry, parse_spec
from vcbench.runner.store import task_id

SPEC = """
datasets:
  - {name: d1, source: demo, n_top_genes: 100}
  - {name: d2, source: demo}
scenarios:
  - {name: perturbation, variant: combo, seeds: [0, 3], options: {context: k562}}
  - {name: context, seeds: [1], datasets: [d2]}
models:
  - {name: additive}
  - {name: linear, params: {alpha: 2.0}}
"""
FINGERPRINTS = {"d1": "fp1", "d2": "fp2"}


def _spec(extra: str = "", models: str | None = None):
    """The spec, without calibration controls unless ``extra`` asks for them (the default)."""
    text = SPEC if models is None else SPEC.split("models:")[0] + "models:\n" + models
    if "calibration" not in extra:
        extra += "calibration: false\n"
    return parse_spec(text + extra)


def test_split_jobs_follow_scenarios_datasets_and_seeds_with_their_identity() -> None:
    jobs = split_jobs(_spec(), FINGERPRINTS)
    got = [(j.dataset.name, j.scenario.name, j.seed) for j in jobs]
    assert got == [
        ("d1", "perturbation", 0),
        ("d1", "perturbation", 3),
        ("d2", "perturbation", 0),
        ("d2", "perturbation", 3),
        ("d2", "context", 1),  # d1 is not in the scenario's datasets
    ]
    identity = {
        "data": "fp1",
        "n_top_genes": 100,
        "scenario": "perturbation",
        "variant": "combo",
        "options": {"context": "k562"},
        "seed": 3,
        "version": vcbench.__version__,
    }
    assert jobs[1].split_id == task_id(identity)
    assert len({j.split_id for j in jobs}) == 5
    other = split_jobs(_spec(), {"d1": "changed", "d2": "fp2"})
    assert other[0].split_id != jobs[0].split_id and other[2].split_id == jobs[2].split_id


def test_split_folder_and_prediction_paths() -> None:
    jobs = split_jobs(_spec(), FINGERPRINTS)
    assert jobs[1].folder == "d1/perturbation-combo/seed3"
    assert jobs[4].folder == "d2/context-default/seed1"  # no variant: "default"
    pattern = "preds/{dataset}/{scenario}/{variant}/{seed}/{split}.h5ad"
    assert jobs[4].predictions_path(pattern) == Path(
        "preds/d2/context/default/1/d2/context-default/seed1.h5ad"
    )
    assert jobs[1].predictions_path("{variant}") == Path("combo")


def test_unsafe_names_are_refused_in_folders() -> None:
    jobs = split_jobs(_spec(), FINGERPRINTS)
    job = jobs[0]
    bad = type(job)(job.split_id, job.dataset.model_copy(update={"name": "../x"}), job.scenario, 0)
    with pytest.raises(UnsafeNameError, match=r"^The dataset name '\.\./x' cannot be used"):
        _ = bad.folder
    with pytest.raises(UnsafeNameError, match=r"^The dataset name '\.\./x' cannot be used"):
        bad.predictions_path("{dataset}")
    # a variant that is safe inside the folder name but not alone
    scenario = job.scenario.model_copy(update={"variant": ".."})
    odd = type(job)(job.split_id, job.dataset, scenario, 0)
    assert odd.folder == "d1/perturbation-../seed0"
    with pytest.raises(UnsafeNameError, match=r"^The scenario variant '\.\.' cannot be used"):
        odd.predictions_path("{variant}")


def test_calibration_adds_the_missing_controls_only() -> None:
    plain = _spec()
    assert [m.name for m in models_of(plain)] == ["additive", "linear"]
    calibrated = _spec("calibration: true\n")
    assert [m.name for m in models_of(calibrated)] == [
        "additive",
        "linear",
        "perturbed_mean",
        "no_change",
        "technical_replicate",
        "collapse_control",
    ]
    named = _spec("calibration: true\n", models="  - {name: additive}\n  - {name: no_change}\n")
    assert [m.name for m in models_of(named)] == [
        "additive",
        "no_change",
        "perturbed_mean",
        "technical_replicate",
        "collapse_control",
    ]
    assert {m.name for m in CALIBRATION_MODELS} == {
        "perturbed_mean",
        "no_change",
        "technical_replicate",
        "collapse_control",
    }


def test_tasks_cross_splits_and_models_and_hash_what_determines_a_result(tmp_path) -> None:
    spec = _spec()
    splits = split_jobs(spec, FINGERPRINTS)
    tasks = tasks_for(spec, splits, tmp_path)
    assert len(tasks) == 10
    assert [(t.split.split_id, t.model.name) for t in tasks[:2]] == [
        (splits[0].split_id, "additive"),
        (splits[0].split_id, "linear"),
    ]
    first = tasks[1]
    identity = {
        "split": splits[0].split_id,
        "model": "linear",
        "params": {"alpha": 2.0},
        "metrics": spec.metrics,
        "version": vcbench.__version__,
    }
    assert first.task_id == task_id(identity)
    assert first.split_dir == tmp_path / "splits" / splits[0].split_id
    assert first.task_dir == tmp_path / "tasks" / first.task_id
    assert first.metrics == spec.metrics and first.memory_limit is None
    assert first.held_out_half is False and first.negatives == "clip"
    assert len({t.task_id for t in tasks}) == 10

    listed = _spec("metrics: [rmse, pdcorr]\nmemory_limit: 1GB\n")
    task = tasks_for(listed, split_jobs(listed, FINGERPRINTS), tmp_path)[1]
    assert task.metrics == ("rmse", "pdcorr")
    assert task.task_id == task_id({**identity, "metrics": ["rmse", "pdcorr"]})
    assert task.memory_limit == 10**9


def test_the_negative_policy_and_held_out_half_enter_the_identity_only_when_set(tmp_path) -> None:
    base = tasks_for(_spec(), split_jobs(_spec(), FINGERPRINTS), tmp_path)[0]
    warn = _spec("negative_predictions: warn\n")
    task = tasks_for(warn, split_jobs(warn, FINGERPRINTS), tmp_path)[0]
    assert task.negatives == "warn"
    identity = {
        "split": base.split.split_id,
        "model": "additive",
        "params": {},
        "metrics": warn.metrics,
        "version": vcbench.__version__,
    }
    assert base.task_id == task_id(identity)
    assert task.task_id == task_id({**identity, "negatives": "warn"})

    calibrated = _spec("calibration: true\n")
    tasks = tasks_for(calibrated, split_jobs(calibrated, FINGERPRINTS), tmp_path)
    assert all(t.held_out_half for t in tasks)
    assert tasks[0].task_id == task_id({**identity, "held_out_half": True})
    # a scored control named by the spec also holds half B out
    named = _spec(models="  - {name: additive}\n  - {name: technical_replicate}\n")
    assert all(t.held_out_half for t in tasks_for(named, split_jobs(named, FINGERPRINTS), tmp_path))


def test_a_predictions_entry_is_scored_from_its_files_content(tmp_path) -> None:
    spec = _spec()
    split = split_jobs(spec, FINGERPRINTS)[0]
    plain = ModelEntry(name="additive")
    assert resolve_model(plain, split) == (plain, {})
    entry = ModelEntry(name="mine", predictions=str(tmp_path / "{dataset}-{seed}.h5ad"))
    model, identity = resolve_model(entry, split)
    assert model.name == "predictions_file" and model.label == "mine"
    assert model.params == {"path": str(tmp_path / "d1-0.h5ad")}
    assert identity == {"predictions_sha256": "missing"}
    content = b"x" * (3 << 20)  # more than one 1 MiB block
    (tmp_path / "d1-0.h5ad").write_bytes(content)
    _, identity = resolve_model(entry, split)
    assert identity == {"predictions_sha256": hashlib.sha256(content).hexdigest()}
    with_file = _spec(
        models=f"  - {{name: mine, predictions: '{tmp_path}/{{dataset}}-{{seed}}.h5ad'}}\n"
    )
    task = tasks_for(with_file, [split], tmp_path)[0]
    assert task.model.name == "predictions_file"
    expected = {
        "split": split.split_id,
        "model": "predictions_file",
        "params": {"path": str(tmp_path / "d1-0.h5ad")},
        "metrics": with_file.metrics,
        "version": vcbench.__version__,
        "predictions_sha256": hashlib.sha256(content).hexdigest(),
    }
    assert task.task_id == task_id(expected)
