"""The runner: tasks, the result store and the default benchmark."""

from vcbench.runner.demo import RunResult, run_demo
from vcbench.runner.task import queries_for, run_model, truth_for

__all__ = ["RunResult", "queries_for", "run_demo", "run_model", "truth_for"]
