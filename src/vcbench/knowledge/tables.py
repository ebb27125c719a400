"""User embedding tables: a name (gene or compound) → a numeric vector.

Formats: a DataFrame (index = names), a ``.csv`` (first column = names), a ``.parquet`` (the index,
or the first column when the index is a plain range), or a torch-saved ``.pt``/``.pth`` dict of
name → 1-d tensor, the format of the seed paper's ``ESM2_pert_features.pt`` and
``SMILES_pert_features.pt`` (read with ``torch.load(weights_only=True)``; needs torch). Checked on
load: unique names, numeric finite values, at least one row and column, every vector the same
length.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from vcbench.errors import KnowledgeError

EmbeddingSource = str | Path | pd.DataFrame


def _read_torch_dict(path: Path) -> pd.DataFrame:
    try:
        import torch
    except ImportError as exc:
        raise KnowledgeError(
            f"Reading {path} needs torch: pip install 'vcbench[torch]', or convert it to parquet."
        ) from exc
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise KnowledgeError(f"{path} could not be read with torch.load: {exc}") from exc
    if not isinstance(stored, dict) or not stored:
        raise KnowledgeError(
            f"{path} must hold a non-empty dict of name → tensor (as ESM2_pert_features.pt), "
            f"not {type(stored).__name__}."
        )
    rows, lengths = {}, {}
    for name, value in stored.items():
        array = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
        if array.ndim == 2 and 1 in array.shape:
            array = array.reshape(-1)
        if array.ndim != 1:
            raise KnowledgeError(
                f"{path}: the vector of {name!r} has shape {array.shape}; each value must be a "
                "1-d tensor (or 1 × d)."
            )
        rows[str(name)] = array.astype(np.float64)
        lengths.setdefault(array.size, []).append(str(name))
    if len(lengths) > 1:
        summary = ", ".join(
            f"{n} of length {size}" for size, n in ((s, len(v)) for s, v in lengths.items())
        )
        raise KnowledgeError(f"{path}: the vectors have different lengths ({summary}).")
    return pd.DataFrame.from_dict(rows, orient="index")


def load_embedding(source: EmbeddingSource) -> pd.DataFrame:
    """An embedding table (module docstring), checked, with float64 values and string names."""
    if isinstance(source, pd.DataFrame):
        table = source.copy()
    else:
        path = Path(source)
        if not path.exists():
            raise KnowledgeError(f"Embedding file {path} does not exist.")
        suffix = path.suffix.lower()
        if suffix == ".csv":
            table = pd.read_csv(path, index_col=0)
        elif suffix in (".parquet", ".pq"):
            table = pd.read_parquet(path)
            if isinstance(table.index, pd.RangeIndex) and table.shape[1] > 1:
                table = table.set_index(table.columns[0])
        elif suffix in (".pt", ".pth"):
            table = _read_torch_dict(path)
        else:
            raise KnowledgeError(
                f"Embedding file {path} must be .csv or .parquet (or a torch-saved .pt dict), not {suffix!r}."
            )
    table.index = table.index.astype(str)
    if table.shape[1] == 0 or table.shape[0] == 0:
        raise KnowledgeError(f"The embedding table is empty (shape {table.shape}).")
    duplicated = table.index[table.index.duplicated()].unique().tolist()
    if duplicated:
        raise KnowledgeError(f"The embedding table names some targets twice: {duplicated[:5]}.")
    non_numeric = [col for col in table.columns if not pd.api.types.is_numeric_dtype(table[col])]
    if non_numeric:
        raise KnowledgeError(f"The embedding table has non-numeric columns: {non_numeric[:5]}.")
    values = table.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise KnowledgeError(
            f"The embedding table has NaN or infinite values in {int(bad.sum())} row(s), e.g. "
            f"{table.index[bad][:5].tolist()}; drop or fill them."
        )
    return pd.DataFrame(values, index=table.index, columns=[str(col) for col in table.columns])
