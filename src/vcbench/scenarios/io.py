"""The split file: one Parquet file, byte-identical for identical splits (docs/scenarios.md).

The table has one row per cell, in the data's cell order: ``obs_name`` (string) and ``set`` (string:
``train``, ``val``, ``test`` or ``unused``). The schema metadata key ``vcbench.split`` holds one
UTF-8 JSON object (keys sorted, no whitespace, NaN written as null) with ``format``
(``"vcbench.split"``), ``format_version``, ``scenario``, ``variant``, ``params``, ``seed``,
``fingerprint``, ``n_cells``, ``test_conditions`` and ``shift`` (each ``{"columns", "rows"}``, the
category order of ``split_category`` in ``categories``), ``genes`` (a list or null) and ``info``.
Written with pyarrow, zstd compression, no timestamps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vcbench.data.fingerprint import fingerprint
from vcbench.errors import ScenarioError
from vcbench.files import write_atomic
from vcbench.scenarios.split import SET_DTYPE, Split

FORMAT = "vcbench.split"
FORMAT_VERSION = 1
METADATA_KEY = b"vcbench.split"


def _plain(value: Any) -> Any:
    """A JSON-ready copy: numpy scalars to Python, tuples to lists, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray | pd.Index):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _table(frame: pd.DataFrame | None) -> dict[str, Any] | None:
    if frame is None:
        return None
    out: dict[str, Any] = {
        "columns": [str(col) for col in frame.columns],
        "rows": _plain(frame.astype(object).to_numpy().tolist()),
    }
    if "split_category" in frame.columns:
        out["categories"] = _plain(list(frame["split_category"].cat.categories))
    return out


def to_json(split: Split) -> str:
    """The split's metadata JSON, exactly as stored in the file."""
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "scenario": split.scenario,
        "variant": split.variant,
        "params": _plain(split.params),
        "seed": int(split.seed),
        "fingerprint": split.fingerprint,
        "n_cells": len(split.assignment),
        "test_conditions": _table(split.test_conditions),
        "shift": _table(split.shift),
        "genes": None if split.genes is None else list(split.genes),
        "info": _plain(split.info),
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False)


def save_split(split: Split, path: str | Path) -> Path:
    """Write ``split`` to ``path`` (parent folders are created; the write is atomic)."""
    path = Path(path)
    table = pa.table(
        {
            "obs_name": pa.array(split.assignment.index.astype(str).tolist(), pa.string()),
            "set": pa.array(split.assignment.astype(str).tolist(), pa.string()),
        }
    ).replace_schema_metadata({METADATA_KEY: to_json(split).encode()})
    return write_atomic(
        path, lambda tmp: pq.write_table(table, tmp, compression="zstd", use_dictionary=True)
    )


def _frame(stored: dict[str, Any] | None) -> pd.DataFrame | None:
    if stored is None:
        return None
    frame = pd.DataFrame(stored["rows"], columns=stored["columns"])
    for column in frame.columns:
        if column == "split_category":
            frame[column] = pd.Categorical(frame[column], categories=stored["categories"])
        elif column in ("n_cells", "n_test", "n_reference"):
            frame[column] = frame[column].astype(np.int64)
        elif column == "energy_distance":
            frame[column] = pd.to_numeric(frame[column]).astype(np.float64)
        else:
            frame[column] = frame[column].astype(str)
    return frame


def load_split(path: str | Path, adata: ad.AnnData | None = None) -> Split:
    """Read a split file. With ``adata``, error unless the split was made from that data (same
    fingerprint), and run the leakage checks (``vcbench.scenarios.leakage.check_split``)."""
    path = Path(path)
    if not path.exists():
        raise ScenarioError(f"Split file not found: {path}. Make it with `vcbench split`.")
    try:
        table = pq.read_table(path)
        record = json.loads((table.schema.metadata or {})[METADATA_KEY])
    except Exception as exc:
        raise ScenarioError(
            f"{path} is not a vcbench split file ({type(exc).__name__}: {exc}). Make it with "
            "`vcbench split` or Split.save."
        ) from exc
    if record.get("format") != FORMAT or record.get("format_version") != FORMAT_VERSION:
        raise ScenarioError(
            f"{path} has split format {record.get('format')!r} version "
            f"{record.get('format_version')!r}; this vcbench reads version {FORMAT_VERSION}."
        )
    names = table.column("obs_name").to_pylist()
    assignment = pd.Series(
        pd.Categorical(table.column("set").to_pylist(), dtype=SET_DTYPE), index=pd.Index(names)
    )
    split = Split(
        scenario=record["scenario"],
        variant=record["variant"],
        params=record["params"],
        seed=record["seed"],
        fingerprint=record["fingerprint"],
        assignment=assignment,
        test_conditions=_frame(record["test_conditions"]),
        shift=_frame(record["shift"]),
        genes=None if record["genes"] is None else tuple(record["genes"]),
        info=record["info"],
    )
    if adata is not None:
        from vcbench.scenarios.leakage import check_split

        check_fingerprint(split, adata, path)
        check_split(adata, split)
    return split


def check_fingerprint(split: Split, adata: ad.AnnData, source: str | Path = "the split") -> None:
    """Error when ``adata`` is not the data ``split`` was made from."""
    actual = fingerprint(adata)
    if actual != split.fingerprint:
        raise ScenarioError(
            f"{source} was made from other data (fingerprint {split.fingerprint[:12]}…, this data "
            f"{actual[:12]}…). Use the data it was made from (same file and load options: keys, "
            "control label, filters), or make a new split."
        )
