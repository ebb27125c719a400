"""Parse perturbation labels into the contract's condition labels and target lists.

A label is a control label, one perturbed gene/compound, or a combination whose parts are joined by
the configured delimiter (``"A+B"``). Parts equal to a control label are dropped, so GEARS-style
``"A+ctrl"`` is the single perturbation ``A`` and ``"ctrl+ctrl"`` is a control. The parts of a
combination are sorted, so ``"B+A"`` and ``"A+B"`` name the same condition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from vcbench.data.contract import COMBINATION_DELIMITER, CONTROL
from vcbench.errors import DataContractError

# Separators that users write between the parts of a combination instead of the configured one.
OTHER_SEPARATORS = (",", ";", "|", "&", "/", "_", " ", ":", "+")
# Separators that never occur inside a gene or compound name on their own.
UNAMBIGUOUS_SEPARATORS = (";", "|")


def check_labels_present(labels: pd.Series, key: str) -> None:
    """Error when a label is missing (NaN) or empty."""
    as_text = labels.astype("string").str.strip()
    bad = as_text.isna() | (as_text == "")
    if bad.any():
        raise DataContractError(
            f"{int(bad.sum())} cells have an empty or missing label in obs['{key}']. "
            f"Give every cell a label (e.g. the control label for unperturbed cells) or drop those cells."
        )


def control_suggestions(labels: Iterable[str]) -> list[str]:
    """Labels that look like control labels, to suggest when the given one is absent."""
    hints = ("ctrl", "control", "non-targeting", "nontargeting", "dmso", "vehicle", "unperturbed")
    return sorted(
        {lab for lab in labels if lab.lower() == "nt" or any(h in lab.lower() for h in hints)}
    )


def suspect_other_delimiter(labels: Sequence[str], delimiter: str | None) -> tuple[str, str] | None:
    """A (label, separator) pair that looks like a combination written with another separator.

    A label is suspect when splitting it by a separator other than ``delimiter`` gives two or more
    parts that are all labels of single perturbations in the same data (``"KLF1_MAP2K6"`` when ``KLF1``
    and ``MAP2K6`` occur alone), or when it contains a separator that never occurs in names (``;``,
    ``|``).
    """
    known = set(labels)
    for label in labels:
        if delimiter and delimiter in label:
            continue
        for sep in OTHER_SEPARATORS:
            if sep == delimiter or sep not in label:
                continue
            parts = [p.strip() for p in label.split(sep)]
            if len(parts) < 2 or any(p == "" for p in parts):
                continue
            if sep in UNAMBIGUOUS_SEPARATORS or all(p in known for p in parts):
                return label, sep
    return None


def parse_labels(
    labels: pd.Series,
    controls: Sequence[str],
    delimiter: str | None = COMBINATION_DELIMITER,
    key: str = "perturbation",
) -> pd.DataFrame:
    """Condition label, targets and number of targets of each cell.

    Returns a frame indexed like ``labels`` with columns ``condition`` (controls become ``CONTROL``),
    ``targets`` (``"+"``-joined sorted parts, ``""`` for controls) and ``n_targets``.
    ``delimiter=None`` turns combination parsing off (every label is one perturbation).
    """
    check_labels_present(labels, key)
    text = labels.astype(str).str.strip()
    unique = pd.Index(text.unique())
    control_set = set(controls)
    if delimiter is not None:
        suspect = suspect_other_delimiter([u for u in unique if u not in control_set], delimiter)
        if suspect is not None:
            label, sep = suspect
            raise DataContractError(
                f"obs['{key}'] label {label!r} looks like a combination joined with {sep!r}, but the "
                f"combination delimiter is {delimiter!r}. Pass combination_delimiter={sep!r}, or relabel "
                f"combinations as 'A{delimiter}B'."
            )
    parsed: dict[str, tuple[str, str, int]] = {}
    for label in unique:
        parts = [label] if delimiter is None else [p.strip() for p in label.split(delimiter)]
        if any(p == "" for p in parts):
            raise DataContractError(
                f"obs['{key}'] label {label!r} has an empty part between {delimiter!r} delimiters. "
                f"Write combinations as 'A{delimiter}B' with no leading, trailing or doubled delimiter."
            )
        genes = sorted({p for p in parts if p not in control_set})
        joined = COMBINATION_DELIMITER.join(genes)
        parsed[label] = (joined or CONTROL, joined, len(genes))
    codes = unique.get_indexer(text)
    table = np.array([parsed[u] for u in unique], dtype=object).reshape(len(unique), 3)
    return pd.DataFrame(
        {
            "condition": table[codes, 0].astype(str),
            "targets": table[codes, 1].astype(str),
            "n_targets": table[codes, 2].astype(np.int64),
        },
        index=labels.index,
    )
