"""The data contract: the standard form every dataset takes inside vcbench.

``vcbench.data.load_dataset`` turns a user's AnnData into this form. Standard ``obs`` columns
(the user's original columns are kept beside them):

- ``vcb_perturbation``: the condition label, a category. Control cells carry ``CONTROL``. A
  combination is written with ``COMBINATION_DELIMITER`` and its parts sorted, so ``B+A`` and ``A+B``
  are the same condition.
- ``vcb_context``: the cell context (cell type, cell line, donor, patient), a category.
- ``vcb_dataset``: the dataset a cell comes from, a category.
- ``vcb_is_control``: whether the cell is a control cell.
- ``vcb_targets``: the perturbed genes or compounds of the cell, joined with ``+`` (empty for
  controls). ``perturbation_targets`` returns them as tuples.
- ``vcb_n_targets``: how many genes or compounds were perturbed (0 for controls, 2 for a double).
- ``vcb_dose``: the dose label (as a string, ``+``-joined for combinations), when a dose key was given.

``X`` holds log1p of library-size-normalised expression (target sum 1e4). Raw counts, when the input
had them, are kept in ``layers["counts"]``. ``uns["vcbench"]`` records how the data was read: the
user's keys, the control label(s), what ``X`` held on input and what was done to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import anndata as ad

PERTURBATION: Final = "vcb_perturbation"
CONTEXT: Final = "vcb_context"
DATASET: Final = "vcb_dataset"
IS_CONTROL: Final = "vcb_is_control"
TARGETS: Final = "vcb_targets"
N_TARGETS: Final = "vcb_n_targets"
DOSE: Final = "vcb_dose"

STANDARD_COLUMNS: Final = (PERTURBATION, CONTEXT, DATASET, IS_CONTROL, TARGETS, N_TARGETS)

CONTROL: Final = "control"
COMBINATION_DELIMITER: Final = "+"
COUNTS_LAYER: Final = "counts"
UNS_KEY: Final = "vcbench"
TARGET_SUM: Final = 1e4
# uns key of a model's prediction record (``level``: "cells" or "mean"); ``vcbench.models.base``
# re-exports it, and scoring reads it without importing the models
PREDICTION_KEY: Final = "vcbench_prediction"
# uns key of the training cells: what the scenario holds out ("perturbation" or "context"), which a
# model's own validation imitates (``vcbench.models.deep.selection``); written by the runner
HELD_OUT_UNIT: Final = "vcb_held_out_unit"


def is_standardised(adata: ad.AnnData) -> bool:
    """Whether ``adata`` has been through ``load_dataset`` (has the record and every standard column)."""
    return UNS_KEY in adata.uns and all(c in adata.obs.columns for c in STANDARD_COLUMNS)


def condition_columns(columns: Iterable[str]) -> list[str]:
    """The columns that name a condition: ``vcb_context``, ``vcb_perturbation`` and, wherever the
    data has doses (``vcb_dose`` among ``columns``), ``vcb_dose``. Pass ``obs`` or a condition table.

    The one definition of a condition key, used by the splits, the baselines, the runner and
    ``evaluate`` (docs/validity.md, "Doses are part of the condition").
    """
    present = set(columns)
    return [CONTEXT, PERTURBATION, *([DOSE] if DOSE in present else [])]


LABEL_SEPARATOR: Final = "\x1f"


def joined_labels(frame: pd.DataFrame) -> np.ndarray:
    """One string per row: the row's values as strings joined by ``LABEL_SEPARATOR`` (``\\x1f``).

    The label of a condition where ``frame`` holds its ``condition_columns``; vectorised (no
    per-row Python call).
    """
    columns = [frame[k].astype(str).to_numpy(dtype=object) for k in frame.columns]
    label = columns[0]
    for column in columns[1:]:
        label = label + LABEL_SEPARATOR + column
    return label.astype(str)


def split_combination(label: str, delimiter: str = COMBINATION_DELIMITER) -> tuple[str, ...]:
    """The parts of a condition label: ``"A+B"`` gives ``("A", "B")``; the control label gives ``()``."""
    if label == CONTROL or label == "":
        return ()
    return tuple(label.split(delimiter))


def perturbation_targets(adata: ad.AnnData) -> pd.Series:
    """The perturbed genes/compounds of each cell of a standardised AnnData, as tuples."""
    return (
        adata.obs[TARGETS]
        .astype(str)
        .map(lambda s: tuple(s.split(COMBINATION_DELIMITER)) if s else ())
    )
