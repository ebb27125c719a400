"""Gene-name harmonisation: a name to the current official symbol, never a guess.

A name resolves, case-insensitively, in this order:

1. a current symbol (NCBI Gene's, from the shipped org.Hs.eg.db tables);
2. an Ensembl gene ID (``ENSG…``, a version suffix such as ``.12`` stripped);
3. an NCBI Entrez Gene ID (digits only);
4. an alias (a previous symbol or synonym), when it belongs to exactly one current symbol.

A name that matches several current symbols at the first step that matches (an alias shared by two
genes, an Ensembl ID mapped to two genes, two symbols differing only in case) is *ambiguous*; a name
that matches nothing is *unknown*. Neither is resolved: both are listed (count and first names) by
``GeneHarmonisation.message``. A current symbol always wins over an alias of another gene (HGNC's rule).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from vcbench.knowledge.annotations import genes

ENSEMBL_GENE = re.compile(r"^ENSG\d{11}(\.\d+)?$", re.IGNORECASE)
SHOWN = 5  # names shown in a warning


@dataclass(frozen=True)
class GeneHarmonisation:
    """The outcome of harmonising names.

    Attributes:
        mapping: each resolved name → its current symbol.
        how: each resolved name → ``"symbol"``, ``"ensembl"``, ``"entrez"`` or ``"alias"``.
        ambiguous: each ambiguous name → the current symbols it could mean.
        unknown: the names that match nothing.
    """

    mapping: dict[str, str] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)
    ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()

    @property
    def renamed(self) -> dict[str, str]:
        """The resolved names whose symbol differs from the name itself."""
        return {name: symbol for name, symbol in self.mapping.items() if name != symbol}

    def message(self, what: str = "gene names") -> str | None:
        """A one-line account of the unresolved names (None when every name resolved)."""
        parts = []
        if self.ambiguous:
            shown = ", ".join(
                f"{n} ({'/'.join(s[:3])})" for n, s in list(self.ambiguous.items())[:SHOWN]
            )
            parts.append(f"{len(self.ambiguous)} ambiguous: {shown}")
        if self.unknown:
            parts.append(f"{len(self.unknown)} unknown: {', '.join(self.unknown[:SHOWN])}")
        if not parts:
            return None
        return (
            f"{len(self.ambiguous) + len(self.unknown)} of "
            f"{len(self.mapping) + len(self.ambiguous) + len(self.unknown)} {what} did not resolve "
            f"to one current human gene symbol ({'; '.join(parts)}); they are not guessed."
        )


@cache
def _lookup(kind: str) -> dict[str, set[str]]:
    """Upper-cased keys of one kind of name (``symbol``, ``ensembl``, ``entrez``, ``alias``) →
    current symbols; built on first use (the alias and Ensembl tables only when a name needs them)."""
    table = genes()
    column = {"symbol": "symbol", "ensembl": "ensembl", "entrez": "entrez", "alias": "aliases"}
    out: dict[str, set[str]] = {}
    values = table[column[kind]].fillna("").astype(str)
    for symbol, value in zip(table["symbol"].astype(str), values, strict=True):
        keys = value.split("|") if kind in ("ensembl", "alias") else (value,)
        for key in keys:
            if key:
                out.setdefault(
                    key.upper().split(".")[0] if kind == "ensembl" else key.upper(), set()
                ).add(symbol)
    return out


def resolve_gene(name: str) -> tuple[str, tuple[str, ...]]:
    """How ``name`` resolves: ``(kind, symbols)`` with kind ``"symbol"``, ``"ensembl"``,
    ``"entrez"``, ``"alias"`` or ``"unknown"`` (no symbols); several symbols: ambiguous."""
    stripped = str(name).strip()
    key = stripped.upper()
    found = _lookup("symbol").get(key)
    if found:
        return "symbol", (stripped,) if stripped in found else tuple(sorted(found))
    if ENSEMBL_GENE.match(key):
        return "ensembl", tuple(sorted(_lookup("ensembl").get(key.split(".")[0], ())))
    if key.isdigit():
        return "entrez", tuple(sorted(_lookup("entrez").get(key, ())))
    found = _lookup("alias").get(key)
    if found:
        return "alias", tuple(sorted(found))
    return "unknown", ()


@cache
def gene_symbol(name: str) -> str | None:
    """The current human gene symbol of ``name``, or None when it is unknown or ambiguous."""
    _, symbols = resolve_gene(name)
    return symbols[0] if len(symbols) == 1 else None


def harmonize_genes(names: Iterable[str]) -> GeneHarmonisation:
    """Harmonise ``names`` (module docstring); each distinct name once, in first-seen order."""
    mapping, how, ambiguous, unknown = {}, {}, {}, []
    for name in dict.fromkeys(str(n) for n in names):
        kind, symbols = resolve_gene(name)
        if len(symbols) == 1:
            mapping[name], how[name] = symbols[0], kind
        elif symbols:
            ambiguous[name] = symbols
        else:
            unknown.append(name)
    return GeneHarmonisation(mapping, how, ambiguous, tuple(unknown))


def warn_unresolved(result: GeneHarmonisation, what: str, stacklevel: int = 2) -> None:
    """Warn (``UserWarning``) with ``result.message(what)`` when some names did not resolve."""
    message = result.message(what)
    if message:
        warnings.warn(message, UserWarning, stacklevel=stacklevel + 1)
