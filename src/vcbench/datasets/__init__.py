"""Datasets: the bundled demo and the registry of public perturbation datasets.

Nothing is downloaded at import; ``download``, ``prepare`` and ``resolve_dataset`` fetch on demand.
"""

from vcbench.datasets.catalogue import list_datasets, resolve_dataset
from vcbench.datasets.demo import DEMO_SHA256, demo, demo_path
from vcbench.datasets.fetch import cache_root, cached_file, download
from vcbench.datasets.recipes import counts_of, prepare, prepare_adata, write_prepared
from vcbench.datasets.registry import (
    QC,
    REGISTRY,
    ColumnMapping,
    DatasetSpec,
    Expected,
    GeneFilter,
    RemoteFile,
    Source,
    StandardSplit,
    get_spec,
)
from vcbench.datasets.verify import verify_file

__all__ = [
    "DEMO_SHA256",
    "QC",
    "REGISTRY",
    "ColumnMapping",
    "DatasetSpec",
    "Expected",
    "GeneFilter",
    "RemoteFile",
    "Source",
    "StandardSplit",
    "cache_root",
    "cached_file",
    "counts_of",
    "demo",
    "demo_path",
    "download",
    "get_spec",
    "list_datasets",
    "prepare",
    "prepare_adata",
    "resolve_dataset",
    "verify_file",
    "write_prepared",
]
