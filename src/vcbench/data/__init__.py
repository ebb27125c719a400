"""The data layer: the data contract, loading with validation, preprocessing and the simulator."""

from vcbench.data.contract import perturbation_targets
from vcbench.data.loader import load_dataset, read_h5ad

__all__ = ["load_dataset", "perturbation_targets", "read_h5ad"]
