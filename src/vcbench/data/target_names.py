"""What the loader records about the perturbation targets: their gene symbols and SMILES.

- Gene names: every distinct target is harmonised (``vcbench.knowledge.harmonize``: symbol,
  alias, Ensembl or Entrez ID, case-insensitive; ambiguous and unknown names are never guessed).
  The record (``uns["vcbench"]["target_genes"]``) holds the targets whose current symbol differs
  from their label (``renamed_from``/``renamed_to``), the ambiguous and the unknown ones, and the
  number resolved. ``var`` and the labels are not renamed. When at least half of the targets
  resolve (a genetic screen), the unresolved ones are named in a warning.
- SMILES: when ``obs`` has a column ``smiles`` or ``canonical_smiles`` (any case), each
  single-compound perturbation's SMILES (its first non-empty value) is recorded as
  ``uns["vcbench"]["smiles_names"]`` and ``["smiles"]``, so that the featuriser can fingerprint
  unseen test compounds too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from vcbench.knowledge.harmonize import harmonize_genes, warn_unresolved


def target_gene_record(targets: pd.Series, delimiter: str) -> dict[str, Any]:
    """The harmonisation record of the distinct targets of ``targets`` (``delimiter``-joined)."""
    names = sorted({t for joined in pd.unique(targets) for t in str(joined).split(delimiter) if t})
    result = harmonize_genes(names)
    if 2 * len(result.mapping) >= len(names):
        warn_unresolved(result, "perturbation targets", stacklevel=3)
    renamed = result.renamed
    return {
        "n_targets": len(names),
        "n_resolved": len(result.mapping),
        "renamed_from": np.array(list(renamed), dtype=object),
        "renamed_to": np.array(list(renamed.values()), dtype=object),
        "ambiguous": np.array(list(result.ambiguous), dtype=object),
        "unknown": np.array(list(result.unknown), dtype=object),
    }


def smiles_record(obs: pd.DataFrame, targets: np.ndarray, n_targets: np.ndarray) -> dict[str, Any]:
    """``smiles_names``/``smiles`` of the single-compound perturbations (empty without a column)."""
    column = next(
        (c for c in obs.columns if str(c).lower() in {"smiles", "canonical_smiles"}), None
    )
    if column is None:
        return {}
    frame = pd.DataFrame(
        {"name": np.asarray(targets, dtype=str), "smiles": obs[column].astype("string").to_numpy()}
    )
    frame = frame[(np.asarray(n_targets) == 1) & frame["smiles"].fillna("").str.strip().ne("")]
    first = frame.drop_duplicates("name").sort_values("name")
    return {
        "smiles_names": first["name"].to_numpy(dtype=object),
        "smiles": first["smiles"].astype(str).to_numpy(dtype=object),
    }
