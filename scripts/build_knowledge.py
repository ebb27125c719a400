"""Rebuild vcbench's shipped gene annotations (``src/vcbench/knowledge/data/``) from the two
Debian packages of the Bioconductor annotation databases.

Usage (from the repository root)::

    apt-get download r-bioc-org.hs.eg.db r-bioc-go.db          # Debian bookworm, 3.16.0-1
    python scripts/build_knowledge.py --debs r-bioc-org.hs.eg.db_*.deb r-bioc-go.db_*.deb

or, from the four extracted parquet tables of a previous extraction (``genes``, ``gene_go``,
``go_terms``, ``go_parents``; e.g. the development copy described in the shipped PROVENANCE.md)::

    python scripts/build_knowledge.py --tables path/to/tables

Stage 1 (``--debs``) reads ``org.Hs.eg.sqlite`` and ``GO.sqlite`` out of the packages (a ``.deb`` is
an ``ar`` archive holding ``data.tar.*``; no R is needed, the databases are plain SQLite) and joins
their tables into the four full tables. Stage 2 derives the compact shipped form from them:

- ``genes.parquet``: ``entrez`` (int64), ``symbol``, ``gene_type``, ``ensembl`` and ``aliases``
  (``|``-joined; the aliases without the symbol itself); the long gene names are dropped;
- ``gene_go.parquet``: distinct ``(entrez, go_id)`` pairs of direct annotations (evidence codes
  dropped: vcbench uses every code, as GEARS does);
- ``go_terms.parquet``: ``go_id``, ``ontology`` (BP, MF, CC), ``term`` (the name);
- ``go_parents.parquet``: ``child``, ``parent``, ``relation`` (isa, part of, regulates, ...).

Every table is sorted and written with zstd level 19, so two runs give identical files.
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import tarfile
import tempfile
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "src" / "vcbench" / "knowledge" / "data"
ORG_DB = "org.Hs.eg.sqlite"
GO_DB = "GO.sqlite"


def _ar_members(path: Path) -> dict[str, bytes]:
    """The members of an ``ar`` archive (the container format of a ``.deb``)."""
    data = path.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise SystemExit(f"{path} is not a .deb (ar) archive")
    members, pos = {}, 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        members[name] = data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size % 2)
    return members


def extract_database(deb: Path, filename: str, into: Path) -> Path | None:
    """Write ``filename`` (found anywhere in the package's data archive) into ``into``."""
    for name, payload in _ar_members(deb).items():
        if not name.startswith("data.tar"):
            continue
        with tarfile.open(fileobj=io.BytesIO(payload)) as tar:
            for member in tar.getmembers():
                if member.name.endswith("/" + filename):
                    target = into / filename
                    target.write_bytes(tar.extractfile(member).read())
                    return target
    return None


def tables_from_sqlite(org: Path, go: Path) -> dict[str, pd.DataFrame]:
    """The four full tables from the two SQLite databases."""
    with sqlite3.connect(org) as db:
        genes = pd.read_sql(
            "SELECT g._id, g.gene_id AS entrez, i.symbol, i.gene_name AS name, t.gene_type "
            "FROM genes g LEFT JOIN gene_info i USING (_id) LEFT JOIN genetype t USING (_id)",
            db,
        )
        ensembl = pd.read_sql("SELECT _id, ensembl_id FROM ensembl", db)
        alias = pd.read_sql("SELECT _id, alias_symbol FROM alias", db)
        go_rows = []
        for ontology in ("bp", "mf", "cc"):
            part = pd.read_sql(
                f"SELECT g.gene_id AS entrez, a.go_id, a.evidence FROM go_{ontology} a "
                "JOIN genes g USING (_id)",
                db,
            )
            part["ontology"] = ontology.upper()
            go_rows.append(part)
    joined = lambda s: "|".join(sorted(set(s)))  # noqa: E731
    genes = genes.merge(
        ensembl.groupby("_id")["ensembl_id"].agg(joined).rename("ensembl"), on="_id", how="left"
    ).merge(
        alias.groupby("_id")["alias_symbol"].agg(joined).rename("aliases"), on="_id", how="left"
    )
    gene_go = pd.concat(go_rows, ignore_index=True)
    with sqlite3.connect(go) as db:
        terms = pd.read_sql("SELECT go_id, term, ontology FROM go_term", db)
        parents = pd.concat(
            [
                pd.read_sql(
                    f"SELECT c.go_id AS child, p.go_id AS parent, r.relationship_type AS relation "
                    f"FROM go_{o}_parents r JOIN go_term c ON c._id = r._id "
                    f"JOIN go_term p ON p._id = r._parent_id",
                    db,
                )
                for o in ("bp", "mf", "cc")
            ],
            ignore_index=True,
        )
    return {
        "genes": genes.drop(columns="_id"),
        "gene_go": gene_go,
        "go_terms": terms,
        "go_parents": parents,
    }


def tables_from_debs(debs: list[Path]) -> dict[str, pd.DataFrame]:
    with tempfile.TemporaryDirectory() as tmp:
        found: dict[str, Path] = {}
        for deb in debs:
            for filename in (ORG_DB, GO_DB):
                path = extract_database(deb, filename, Path(tmp))
                if path is not None:
                    found[filename] = path
        missing = {ORG_DB, GO_DB} - set(found)
        if missing:
            raise SystemExit(f"not found in the packages: {sorted(missing)}")
        return tables_from_sqlite(found[ORG_DB], found[GO_DB])


TABLES = ("genes", "gene_go", "go_terms", "go_parents")


def compact(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The shipped form (module docstring) of the four full tables."""
    genes = tables["genes"].copy()
    genes["entrez"] = genes["entrez"].astype("int64")

    def aliases_without_symbol(row: pd.Series) -> str:
        names = set(str(row["aliases"] or "").split("|")) - {"", row["symbol"]}
        return "|".join(sorted(names))

    genes["aliases"] = genes.apply(aliases_without_symbol, axis=1)
    genes["ensembl"] = genes["ensembl"].fillna("").astype(str)
    genes["gene_type"] = genes["gene_type"].astype(str)
    genes = genes[["entrez", "symbol", "gene_type", "ensembl", "aliases"]].sort_values("entrez")

    gene_go = tables["gene_go"][["entrez", "go_id"]].astype({"entrez": "int64", "go_id": str})
    gene_go = gene_go.drop_duplicates().sort_values(["entrez", "go_id"])
    terms = tables["go_terms"][["go_id", "ontology", "term"]].astype(str)
    terms = terms[terms["ontology"].isin(["BP", "MF", "CC"])].sort_values("go_id")
    parents = tables["go_parents"][["child", "parent", "relation"]].astype(str)
    parents = parents.drop_duplicates().sort_values(["child", "parent", "relation"])
    return {
        name: frame.reset_index(drop=True)
        for name, frame in {
            "genes": genes,
            "gene_go": gene_go,
            "go_terms": terms,
            "go_parents": parents,
        }.items()
    }


def write(tables: dict[str, pd.DataFrame], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(
            out / f"{name}.parquet", compression="zstd", compression_level=19, index=False
        )
        print(
            f"{name}.parquet: {len(frame):,} rows, {(out / f'{name}.parquet').stat().st_size:,} bytes"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--debs", nargs=2, type=Path, help="the two .deb files")
    source.add_argument("--tables", type=Path, help="folder with the four full parquet tables")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.debs:
        full = tables_from_debs(args.debs)
    else:
        full = {
            n: pd.read_parquet(args.tables / f"{n}.parquet")
            for n in ("genes", "gene_go", "go_terms", "go_parents")
        }
    write(compact(full), args.out)


if __name__ == "__main__":
    main()
