"""Pick a file's source layout: the columns it must have, and the label format it must fit.

Layouts of one dataset can share columns (Norman 2019's GEARS copy and PerturBench's subset both
have ``condition`` and ``cell_type``), so a layout may also declare ``label_pattern``: every raw
perturbation label of its files matches it. Overrides (``columns``, ``control``, ``delimiter``)
describe any other layout; when one of them is given, the label format is not checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from vcbench.datasets.registry import ColumnMapping, DatasetSpec, Source
from vcbench.errors import DataContractError

MAPPING_ROLES = ("perturbation", "context", "dataset", "dose")
LABEL_SAMPLE = 8


def template_columns(template: str | None) -> list[str]:
    """The obs columns named in a context template such as ``"{cell_line}_{time}h"``."""
    return re.findall(r"{([^{}]+)}", template or "")


def needed_columns(source: Source, mapping: ColumnMapping) -> list[str]:
    """The obs columns a file of ``source`` must have under ``mapping``."""
    qc = source.qc
    uses_template = source.context_template and mapping.context == source.columns.context
    needed = [
        *mapping.required_columns(),
        *(col for col, _ in qc.keep_obs),
        *(col for col, _ in qc.min_obs),
        *(template_columns(source.context_template) if uses_template else []),
    ]
    return list(dict.fromkeys(needed))  # a column can serve several roles: name it once


def override_columns(
    mapping: ColumnMapping,
    columns: Mapping[str, str | None] | None = None,
    control: Sequence[str] | None = None,
    delimiter: str | None = None,
) -> ColumnMapping:
    """``mapping`` with some roles pointed at other columns (``None`` or ``""`` = no column), other
    control labels, or another combination delimiter (``""`` = no combinations)."""
    changes: dict[str, Any] = {}
    for role, column in (columns or {}).items():
        if role not in MAPPING_ROLES:
            raise DataContractError(
                f"Unknown column role {role!r} in the mapping override. Roles: {', '.join(MAPPING_ROLES)} "
                "(e.g. --map context=cell_line)."
            )
        if role == "perturbation" and not column:
            raise DataContractError(
                "The perturbation role needs a column (e.g. --map perturbation=guide)."
            )
        changes[role] = column or None
    if control:
        changes["control"] = tuple(control)
    if delimiter is not None:
        changes["combination_delimiter"] = delimiter or None
    return replace(mapping, **changes)


def label_sample(obs: pd.DataFrame, column: str) -> list[str]:
    """Up to 8 distinct labels of ``obs[column]``, the most frequent first."""
    counts = obs[column].astype(str).value_counts()
    return counts.index[:LABEL_SAMPLE].tolist()


def misfit_label(source: Source, obs: pd.DataFrame, column: str) -> str | None:
    """A raw label of ``obs[column]`` that does not fit ``source.label_pattern`` (None: all fit)."""
    if source.label_pattern is None:
        return None
    labels = pd.Series(obs[column].astype(str).str.strip().unique())
    labels = labels[~labels.isin(list(source.drop_labels))]
    fits = labels.str.fullmatch(source.label_pattern)
    return None if fits.all() else str(labels[~fits].iloc[0])


def choose_source(
    spec: DatasetSpec,
    obs: pd.DataFrame,
    name: str | None = None,
    columns: Mapping[str, str | None] | None = None,
    control: Sequence[str] | None = None,
    delimiter: str | None = None,
) -> tuple[Source, ColumnMapping]:
    """The source layout (named, else the first whose columns and labels ``obs`` fits) and its
    column mapping.

    Overrides are applied before the columns are checked; with a ``control`` or ``delimiter``
    override the label format is not checked. A file that fits no layout is an error listing what
    each layout misses, with a sample of the file's labels.
    """
    candidates = [spec.source(name)] if name is not None else list(spec.sources)
    check_labels = not control and delimiter is None and "perturbation" not in (columns or {})
    reasons: dict[str, str] = {}
    samples: dict[str, list[str]] = {}
    fits: list[tuple[bool, Source, ColumnMapping]] = []
    for candidate in candidates:
        mapping = override_columns(candidate.columns, columns, control, delimiter)
        absent = [col for col in needed_columns(candidate, mapping) if col not in obs.columns]
        if absent:
            reasons[candidate.name] = f"needs the missing column(s) {absent}"
            continue
        misfit = misfit_label(candidate, obs, mapping.perturbation) if check_labels else None
        if misfit is not None:
            reasons[candidate.name] = (
                f"expects labels matching {candidate.label_pattern!r} in obs"
                f"[{mapping.perturbation!r}], but the file has {misfit!r}"
            )
            samples[mapping.perturbation] = label_sample(obs, mapping.perturbation)
            continue
        own = needed_columns(candidate, candidate.columns)
        fits.append((all(col in obs.columns for col in own), candidate, mapping))
    if fits:  # prefer a layout that fits the file without the overrides
        _, candidate, mapping = max(fits, key=lambda fit: fit[0])
        return candidate, mapping
    detail = "; ".join(f"layout {k!r} {v}" for k, v in reasons.items())
    available = ", ".join(map(repr, obs.columns)) or "(none)"
    shown = "".join(f" Labels in obs[{k!r}]: {v}." for k, v in samples.items())
    raise DataContractError(
        f"The file does not look like {spec.name} ({spec.title}): {detail}. Its obs columns are: "
        f"{available}.{shown} Check that it is the right dataset, or describe its layout with "
        "--map ROLE=COLUMN (roles: perturbation, context, dataset, dose), --control LABEL and "
        "--delimiter TEXT (--delimiter '' for no combinations)."
    )


__all__ = [
    "MAPPING_ROLES",
    "choose_source",
    "label_sample",
    "misfit_label",
    "needed_columns",
    "override_columns",
    "template_columns",
]
