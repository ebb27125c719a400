"""Gene → gene-ontology-term tables, shared by the GEARS re-implementation and the GEARS adapter."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from vcbench.errors import ModelError

GoTermSource = str | Path | pd.DataFrame


def load_go_terms(source: GoTermSource) -> pd.DataFrame:
    """A gene → GO-term table (columns ``gene`` and ``go_term``, one row per distinct pair) from a
    DataFrame or a ``.csv``/``.parquet`` file; rows with a missing value are dropped."""
    if isinstance(source, pd.DataFrame):
        table = source
    else:
        path = Path(source)
        if not path.exists():
            raise ModelError(f"GO-term file {path} does not exist.")
        suffix = path.suffix.lower()
        if suffix == ".csv":
            table = pd.read_csv(path)
        elif suffix in (".parquet", ".pq"):
            table = pd.read_parquet(path)
        else:
            raise ModelError(f"GO-term file {path} must be .csv or .parquet, not {suffix!r}.")
    missing = {"gene", "go_term"} - set(table.columns)
    if missing:
        raise ModelError(
            f"The GO-term table needs columns 'gene' and 'go_term'; it lacks {sorted(missing)} "
            f"(it has {list(table.columns)[:10]})."
        )
    table = table[["gene", "go_term"]].dropna().astype(str).drop_duplicates()
    if table.empty:
        raise ModelError("The GO-term table has no (gene, go_term) rows.")
    return table.reset_index(drop=True)
