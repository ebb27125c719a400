"""The runner: benchmark specs, the grid, executors, the result store and tasks."""

from vcbench.runner.benchmark import BenchmarkResult, run_benchmark
from vcbench.runner.demo import DEMO_SPEC, demo_spec
from vcbench.runner.spec import BenchmarkSpec, load_spec, parse_spec
from vcbench.runner.task import queries_for, run_model, run_model_timed, truth_for

__all__ = [
    "DEMO_SPEC",
    "BenchmarkResult",
    "BenchmarkSpec",
    "demo_spec",
    "load_spec",
    "parse_spec",
    "queries_for",
    "run_benchmark",
    "run_model",
    "run_model_timed",
    "truth_for",
]
