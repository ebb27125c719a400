"""``vcbench datasets list | info | download | prepare``: the dataset registry from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from vcbench.cli.app import app, console, friendly_errors
from vcbench.cli.options import split_list
from vcbench.errors import DataContractError

datasets_app = typer.Typer(
    help="Public perturbation datasets: list, download and prepare them into the data contract.",
    no_args_is_help=True,
)
app.add_typer(datasets_app, name="datasets")

CacheOption = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Cache folder (default: $VCBENCH_CACHE or ~/.cache/vcbench)."),
]
MirrorOption = Annotated[
    str | None,
    typer.Option(
        "--mirror",
        help="Fetch the file from this folder or URL instead (e.g. file:///data/mirror).",
    ),
]


def _parse_map(items: list[str] | None) -> dict[str, str | None]:
    mapping: dict[str, str | None] = {}
    for item in items or []:
        role, sep, column = item.partition("=")
        if not sep or not role.strip():
            raise DataContractError(
                f"--map {item!r} is not ROLE=COLUMN. Write e.g. --map context=cell_line "
                "(or --map context= for no context column)."
            )
        mapping[role.strip()] = column.strip() or None
    return mapping


@datasets_app.command("list")
@friendly_errors
def list_command(cache_dir: CacheOption = None) -> None:
    """Print the registry: name, perturbation type, cells, perturbations, contexts, size, licence, cached."""
    from vcbench.datasets import list_datasets

    frame = list_datasets(cache_dir)
    table = Table(
        title="vcbench dataset registry (counts: full upstream data; ~ rounded, ? unverified)"
    )
    for column in frame.columns:
        justify = "right" if column in {"cells", "perturbations", "contexts", "size"} else "left"
        table.add_column(column, justify=justify)
    for row in frame.itertuples(index=False):
        table.add_row(*map(str, row))
    console.print(table)


@datasets_app.command("info")
@friendly_errors
def info_command(name: Annotated[str, typer.Argument(help="Registry name.")]) -> None:
    """Print one dataset's address, checksum, licence, citation and source layouts."""
    from vcbench.datasets import get_spec

    spec = get_spec(name)
    console.print(
        f"[bold]{escape(spec.name)}[/]: {escape(spec.title)}", markup=True, highlight=False
    )
    console.print(spec.description, highlight=False)
    if spec.file is not None:
        console.print(f"file: {spec.file.url}", highlight=False)
        console.print(f"checksum: {spec.file.known_hash or 'none'}", highlight=False)
        console.print(f"checksum source: {spec.file.checksum_source}", highlight=False)
    if spec.manual_download:
        console.print(f"download: {spec.manual_download}", highlight=False)
    console.print(f"accession: {spec.accession}\nlicence: {spec.licence}", highlight=False)
    console.print(f"citation: {spec.citation}", highlight=False)
    for source in spec.sources:
        cols = source.columns
        console.print(
            f"layout {source.name!r}: perturbation={cols.perturbation} context={cols.context} "
            f"dataset={cols.dataset} dose={cols.dose} control={list(cols.control)} "
            f"delimiter={cols.combination_delimiter!r}; {source.description}",
            highlight=False,
        )
    console.print(f"keeps: {spec.keeps}", highlight=False)
    console.print(f"after preparation: {spec.after_preparation}", highlight=False)
    if spec.standard_split is not None:
        console.print(f"standard split: {spec.standard_split.description}", highlight=False)
    for note in spec.notes:
        console.print(f"note: {note}", highlight=False)


@datasets_app.command("download")
@friendly_errors
def download_command(
    name: Annotated[str, typer.Argument(help="Registry name (see `vcbench datasets list`).")],
    cache_dir: CacheOption = None,
    mirror: MirrorOption = None,
) -> None:
    """Download a dataset's file into the cache (resumable, checksum-verified)."""
    from vcbench.datasets import download

    path = download(name, cache_dir, mirror=mirror)
    console.print(f"Cached: {path}", highlight=False)


@datasets_app.command("prepare")
@friendly_errors
def prepare_command(
    name: Annotated[str, typer.Argument(help="Registry name (see `vcbench datasets list`).")],
    out: Annotated[Path, typer.Option("--out", help="The prepared .h5ad file to write.")],
    from_path: Annotated[
        Path | None,
        typer.Option("--from", help="Prepare this local file instead of the cached download."),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="Source layout of the file (default: detected)."),
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map", help="ROLE=COLUMN override (roles: perturbation, context, dataset, dose)."
        ),
    ] = None,
    control: Annotated[
        list[str] | None,
        typer.Option("--control", help="Control label; repeat the flag or separate with commas."),
    ] = None,
    delimiter: Annotated[
        str | None,
        typer.Option("--delimiter", help="Combination delimiter ('' for no combinations)."),
    ] = None,
    dose: Annotated[
        str | None,
        typer.Option("--dose", help="Dose kept: max (each compound's highest), a value, or all."),
    ] = None,
    obs_query: Annotated[
        str | None,
        typer.Option(
            "--obs-query", help='Keep cells matching this pandas query on obs, e.g. "time == 24".'
        ),
    ] = None,
    verify: Annotated[
        bool | None,
        typer.Option(
            "--verify/--no-verify",
            help="Verify --from against the registry file's size and checksum (default: when it "
            "has the registry file's name or size).",
        ),
    ] = None,
    cache_dir: CacheOption = None,
    mirror: MirrorOption = None,
) -> None:
    """Prepare a dataset into the contract form (QC, column mapping, normalisation, fingerprint)."""
    from vcbench.data import contract as c
    from vcbench.data.obs_query import describe_filter
    from vcbench.datasets import counts_of, prepare

    adata = prepare(
        name,
        from_path,
        source=source,
        columns=_parse_map(map_),
        control=split_list(control) or None,
        delimiter=delimiter,
        dose=dose,
        obs_query=obs_query,
        cache_dir=cache_dir,
        out=out,
        mirror=mirror,
        verify=verify,
    )
    counts = counts_of(adata)
    record = adata.uns[c.UNS_KEY]
    registry = record["registry"]
    checked = ", ".join(map(str, registry["verification"]["checked"]))
    console.print(f"Input {record['source']}: verified {checked}", highlight=False)
    for step in record["recipe"].values():
        if int(step.get("dropped", 0)):
            console.print(f"  {step['step']}: dropped {int(step['dropped']):,}", highlight=False)
    for query in record.get("row_filters", {}).values():
        console.print(describe_filter(query), highlight=False)
    console.print(
        f"Prepared {name} ({registry['layout']} layout): {counts['cells']:,} cells × "
        f"{adata.n_vars:,} genes, {counts['perturbations']} perturbations, "
        f"{counts['contexts']} contexts -> {out}\nfingerprint {record['fingerprint']}",
        highlight=False,
    )
