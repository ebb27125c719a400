"""vcbench: benchmark virtual cell models (single-cell perturbation response predictors) in the wild."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vcbench")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

from vcbench.data import load_dataset
from vcbench.metrics import evaluate

__all__ = ["__version__", "evaluate", "load_dataset"]
