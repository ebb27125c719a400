"""Compound representations: Morgan (ECFP-like) fingerprints from SMILES through RDKit.

A compound's fingerprint is RDKit's Morgan fingerprint of radius 2 folded to 2048 bits (the
count-free bit vector, as ECFP4), from its SMILES. RDKit is an optional extra
(``pip install "vcbench[chem]"``). A SMILES RDKit cannot parse is an error naming the compound.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from vcbench.errors import KnowledgeError

RADIUS = 2
N_BITS = 2048


def _rdkit():
    try:
        from rdkit import Chem, RDLogger
        from rdkit.Chem import rdFingerprintGenerator
    except ImportError as exc:
        raise KnowledgeError(
            "Morgan fingerprints need RDKit: pip install 'vcbench[chem]' (or pass an embedding "
            "table of the compounds instead)."
        ) from exc
    RDLogger.DisableLog("rdApp.*")
    return Chem, rdFingerprintGenerator


def morgan_fingerprints(
    smiles: Mapping[str, str], radius: int = RADIUS, n_bits: int = N_BITS
) -> pd.DataFrame:
    """Compounds (the mapping's keys) × ``n_bits`` 0/1 columns: the Morgan fingerprint of radius
    ``radius`` of each SMILES."""
    chem, generators = _rdkit()
    generator = generators.GetMorganGenerator(radius=radius, fpSize=n_bits)
    names = list(smiles)
    out = np.zeros((len(names), n_bits), dtype=np.float64)
    bad = []
    for i, name in enumerate(names):
        molecule = chem.MolFromSmiles(str(smiles[name]))
        if molecule is None:
            bad.append(name)
            continue
        out[i] = generator.GetFingerprintAsNumPy(molecule)
    if bad:
        raise KnowledgeError(
            f"RDKit cannot parse the SMILES of {len(bad)} compound(s): {bad[:5]}; fix the SMILES "
            "or leave these compounds out of the SMILES table."
        )
    return pd.DataFrame(
        out, index=pd.Index(names, dtype=str), columns=[f"fp{i}" for i in range(n_bits)]
    )
