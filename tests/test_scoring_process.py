"""`vcbench evaluate`'s process set-up (one BLAS thread, glibc keeping freed memory) and its
`--gram` option: the set-up changes no score, and the option picks the products' precision."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_metrics_cli import _files

from vcbench.allocator import keep_freed_memory
from vcbench.metrics.distributions import GRAM_FLOAT32_TOLERANCE
from vcbench.metrics.files import evaluate_files
from vcbench.threads import one_blas_thread_process

ARGS = ["--perturbation-key", "target_gene", "--control", "non-targeting", "--context-key", "none"]
METRICS = "energy_distance,sinkhorn,mmd_rbf,pdcorr"
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


def _fresh(code: str, **env: str) -> list[str]:
    # without the MALLOC_* settings this process may have (Dask's nanny sets one for its workers)
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**inherited, **env},
    )
    return done.stdout.split()


def test_a_fresh_scoring_process_loads_blas_with_one_thread() -> None:
    code = (
        "from vcbench.threads import one_blas_thread_process, budget, cores\n"
        "applied = one_blas_thread_process()\n"
        "import numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "counts = {i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}\n"
        "print(applied, sorted(counts), budget() == cores())\n"
    )
    assert _fresh(code, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2") == ["True", "[1]", "True"]


def test_the_process_set_up_does_nothing_once_numpy_is_loaded() -> None:
    before = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    assert "numpy" in sys.modules  # as in any in-process run of the command (CliRunner)
    assert one_blas_thread_process() is False
    assert keep_freed_memory() == []
    assert {name: os.environ.get(name) for name in before} == before


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_keep_freed_memory_applies_what_the_environment_does_not_set() -> None:
    code = "from vcbench.allocator import keep_freed_memory\nprint(*keep_freed_memory())\n"
    assert _fresh(code) == ["MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_ARENA_MAX"]
    assert _fresh(code, MALLOC_ARENA_MAX="4") == [
        "MALLOC_TRIM_THRESHOLD_",
        "MALLOC_MMAP_THRESHOLD_",
    ]


def _cli(prediction: str, truth: str, out: Path, *flag: str) -> pd.DataFrame:
    vcbench = shutil.which("vcbench") or str(Path(sys.executable).with_name("vcbench"))
    command = [vcbench, "evaluate", prediction, truth, *ARGS, "--metrics", METRICS]
    subprocess.run([*command, "--out", str(out), *flag], capture_output=True, check=True)
    return pd.read_parquet(out / "scores.parquet")


def test_the_command_line_scores_are_the_libraries_at_each_gram(tmp_path) -> None:
    """In its own process (one BLAS thread, glibc's settings) the command gives the same bits as
    ``evaluate_files`` here; the default is float32, and float64 differs within the tolerance."""
    truth, prediction = _files(tmp_path)
    by_gram = {}
    for gram in ("float32", "float64"):
        library = evaluate_files(
            prediction,
            truth,
            perturbation_key="target_gene",
            control="non-targeting",
            context_key=None,
            metrics=METRICS.split(","),
            out=tmp_path / f"library_{gram}",
            gram=gram,
        ).scores
        command = _cli(prediction, truth, tmp_path / f"cli_{gram}", "--gram", gram)
        pd.testing.assert_frame_equal(command, library, check_exact=True)
        by_gram[gram] = library.set_index(["perturbation", "metric"])["value"]
    default = _cli(prediction, truth, tmp_path / "cli_default")
    pd.testing.assert_frame_equal(
        default.set_index(["perturbation", "metric"])["value"].to_frame(),
        by_gram["float32"].to_frame(),
        check_exact=True,
    )
    fast, exact = by_gram["float32"], by_gram["float64"]
    distances = exact.index.get_level_values("metric") != "pdcorr"
    assert (fast[distances] != exact[distances]).any()  # the two precisions did run
    assert np.array_equal(fast[~distances], exact[~distances])  # pdcorr has no distance matrix
    # each value within the tolerance of the scale of its terms (docs/performance.md); those
    # scales are at most a few hundred here, so 1e-4 absolute is a loose, failing-capable bound
    assert np.abs(fast - exact).max() <= GRAM_FLOAT32_TOLERANCE * 1e3
