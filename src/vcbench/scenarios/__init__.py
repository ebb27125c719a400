"""Scenarios: turn a dataset into train / validation / test sets (SCENARIOS.md)."""

from vcbench.scenarios.combo import combo_split
from vcbench.scenarios.split import Split

__all__ = ["Split", "combo_split"]
