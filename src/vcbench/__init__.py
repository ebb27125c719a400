"""vcbench: benchmark virtual cell models (single-cell perturbation response predictors) in the wild.

The top-level names are imported on first use, so ``import vcbench`` (and the command line's
``--help``) stay fast and import neither torch nor scanpy:

- ``vcbench.evaluate(pred, truth, ...)``: score predictions (AnnData objects or ``.h5ad`` paths);
- ``vcbench.run(spec)``: run a benchmark spec (a dict, YAML text's path or a ``BenchmarkSpec``);
- ``vcbench.distance(adata, groupby=..., metric=...)``: a distribution distance between obs groups;
- ``vcbench.load_dataset(...)``: read and validate a dataset into the data contract.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> "module:attribute", imported on first access
_LAZY = {
    "evaluate": "vcbench.api:evaluate",
    "run": "vcbench.api:run",
    "distance": "vcbench.api:distance",
    "load_dataset": "vcbench.data:load_dataset",
}

__all__ = ["__version__", *_LAZY]


def _version() -> str:
    """The installed distribution's version (importlib.metadata: ~50 ms, so read on first use)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vcbench")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0.0.0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    if name in _LAZY:
        module, _, attribute = _LAZY[name].partition(":")
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vcbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
