"""The bundled demo dataset: PerturBench's development subset of Norman 2019 and McFaline-Figueroa 2023.

Real data (BSD-3-Clause, Altos Labs; see ``data/PROVENANCE.md`` and ``data/LICENSE-perturbench.txt``):
K562 CRISPRa singles and doubles (``dataset`` ``norman19``) and three glioma lines (A172, T98G, U87MG)
with CRISPRi singles (``mcfaline23``); 5,961 cells × 500 genes, log1p-normalised.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import anndata as ad

from vcbench.data.loader import load_dataset
from vcbench.errors import DatasetFileError

DEMO_FILE = "perturbench_devel.h5ad"
DEMO_SHA256 = "220998f5630c813228c8661c86dd52244b9ac87127511289af90e0d900d8429b"


def demo_path() -> Path:
    """Path of the bundled demo ``.h5ad`` file, after checking its checksum."""
    path = Path(str(resources.files("vcbench.datasets") / "data" / DEMO_FILE))
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"
    if digest != DEMO_SHA256:
        raise DatasetFileError(
            f"The bundled demo file {path} is {'missing' if digest == 'missing' else 'corrupted'} "
            f"(sha256 {digest}, expected {DEMO_SHA256}). Reinstall vcbench."
        )
    return path


def demo() -> ad.AnnData:
    """The demo dataset in the standard form (context = cell line, dataset = study)."""
    return load_dataset(
        demo_path(),
        perturbation_key="condition",
        context_key="cell_type",
        control="control",
        dataset_key="dataset",
    )
