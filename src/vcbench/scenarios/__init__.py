"""Scenarios: turn a dataset into train / validation / test sets (docs/scenarios.md).

``make_split(adata, scenario, variant, seed, **options)`` builds any scenario; every split is
checked for leakage (``leakage.check_split``) and carries its measured shift (``shift``) before it is
returned. ``Split.save`` / ``load_split`` write and read the split file (``io``).
"""

from vcbench.scenarios.chemical import chemical_split, dose_split
from vcbench.scenarios.combo import combo_split
from vcbench.scenarios.contexts import context_split
from vcbench.scenarios.cross_dataset import combine_datasets, cross_dataset_split, prepare
from vcbench.scenarios.io import load_split, save_split
from vcbench.scenarios.leakage import check_split
from vcbench.scenarios.registry import SCENARIOS, describe, make_split
from vcbench.scenarios.singles import single_split
from vcbench.scenarios.split import Split

__all__ = [
    "SCENARIOS",
    "Split",
    "check_split",
    "chemical_split",
    "combine_datasets",
    "combo_split",
    "context_split",
    "cross_dataset_split",
    "describe",
    "dose_split",
    "load_split",
    "make_split",
    "prepare",
    "save_split",
    "single_split",
]
