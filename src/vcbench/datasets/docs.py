"""docs/datasets.md, generated from the registry so that its counts and checksums cannot go stale.

Regenerate with ``python -m vcbench.datasets.docs docs/datasets.md``; a test fails when the
committed page differs from ``render_datasets_page()``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vcbench.datasets.catalogue import list_datasets
from vcbench.datasets.registry import REGISTRY, DatasetSpec, Source

INTRO = """\
# Dataset registry

<!-- Generated from src/vcbench/datasets/registry.py by `python -m vcbench.datasets.docs
docs/datasets.md`; do not edit by hand (tests/test_datasets_docs.py checks it). -->

`vcbench.datasets` knows the public datasets of the seed paper and other perturbation screens: where
to get each file, its size and checksum where one is published, its licence and citation, how its
columns map to the data contract, and a preparation recipe that follows the paper (and PerturBench
where it processed the same data). One command gets a dataset into the contract form, the same way
every time.

```bash
vcbench datasets list                                   # the registry (and what is cached)
vcbench datasets info norman2019                        # address, checksum, layouts, what is kept
vcbench datasets download norman2019                    # into the cache: resumable, verified
vcbench datasets prepare norman2019 --out norman.h5ad   # contract form, with a fingerprint
vcbench datasets prepare kang2018 --from valid.h5ad --out kang.h5ad   # a local file, offline
vcbench datasets prepare mcfarland2020 --obs-query "time == 24" --out mix24.h5ad  # a row filter
```

In Python: `download(name)`, `prepare(name, source_path=None, *, source=None, columns=None,
control=None, delimiter=None, dose=None, obs_query=None, out=None, verify=None)`,
`prepare_adata(adata, name, ...)`, `list_datasets()`, `get_spec(name)`, `REGISTRY`, and
`resolve_dataset(name_or_path)` for runners (a benchmark spec may name a registry dataset: it is
prepared once and kept in the cache's `prepared/` folder, then read back after its fingerprint is
checked; a path must be a prepared file whose fingerprint still matches).
"""

RECIPE = """\
## The recipe

Applied in this order and recorded step by step in `uns["vcbench"]["recipe"]` (cells or genes
before and after each step, and how many were dropped); `vcbench datasets prepare` prints every
step that dropped something.

1. The file is verified (see *Verified bytes*) and opened backed: only obs and var are read.
2. The layout is detected from the columns and, where layouts share columns, the label format
   (Norman: scPerturb `A_B`, GEARS `A+ctrl`/`A+B`/`ctrl`, PerturBench `A+B`). A file that fits no
   layout is an error showing the columns each layout misses and a sample of its labels;
   `--map ROLE=COLUMN`, `--control LABEL` and `--delimiter TEXT` describe any other layout.
3. Cell steps on obs, before any expression value is read: the `--obs-query` row filter, the
   layout's filters, cells without a perturbation label, labels the layout drops, cells without a
   context (or dose) value, then the dose selection (`--dose max|VALUE|all`).
4. Gene features: for sci-Plex 3 only human Ensembl gene features, renamed to their symbols from
   the file's own feature table; repeated names are made unique.
5. X is read in chunks of 20,000 cells, only the kept cells and genes, with the per-cell QC on
   the way: at least 200 detected genes per cell (100 for sci-Plex 3), at most 20% mitochondrial
   (`MT-`) counts; count-based steps are skipped, and recorded as skipped, on log-normalised input.
   Only X, obs and var are read: layers, obsm and uns of the input are not carried over.
6. Labels are cleaned (guide suffixes stripped, renames, `ctrl` parts removed), the context built
   (McFarland: cell line × time point), genes detected in fewer than 3 cells dropped, and
   conditions (perturbation × context) with fewer than 10 cells dropped (controls are kept).
7. `load_dataset` validates and normalises (raw counts become log1p of 1e4-normalised values,
   the counts are kept in `layers["counts"]`); `uns["vcbench"]` records the registry entry,
   layout, column mapping, dose selection, what was verified of the input, the row filter, the
   standard split where the dataset has one, and the content fingerprint; the file is written
   atomically.

The QC thresholds are vcbench's choices, fixed so that every run is the same; the local subsets
keep the QC their authors applied (gene-count thresholds would misfire on HVG-only or
gene-downsampled files). Peak memory follows what is kept, not the file: about 40 bytes per kept
stored value (the kept counts, the contract loader's copy, the normalised values and their
temporaries) plus about 0.5 GB, measured by `benchmarks/bench_prepare_memory.py` at sci-Plex 3's
layout (a 910 MB file of 150,000 cells × 110,983 features: 1.55 GB peak, against 2.23 GB when X
is read whole first).
"""

BYTES = """\
## Verified bytes, downloads and the cache

Files go to `$VCBENCH_CACHE` (default `~/.cache/vcbench`; `--cache-dir` overrides it):

```text
datasets/raw/<file>           complete, verified files
datasets/partial/<file>.part  an interrupted download; the next `download` resumes it
datasets/prepared/<name>.h5ad prepared files of resolve_dataset
```

A file is verified by its size, then by its sha256 where one is published, else its md5, after
every download and again before every `prepare` (`vcbench.datasets.verify`). Bytes stream into
`partial/` (HTTP `Range` requests resume it; a server that ignores them restarts it) and move into
`raw/` only when they pass, so `raw/` never holds a half-written or corrupt file. An HTTP 416
(range not satisfiable) counts as complete only when the partial file has the full length the
server (or the registry) gives; a longer partial file is deleted and fetched again. Errors name
the file and the fix: a partial file (resume by running the command again), an oversized or
corrupt one (deleted; check the address or the mirror), a cached file that fails (delete it and
download again).

Offline use and mirrors: `prepare --from FILE` reads a local file (verified when it has the
registry file's name or size, or with `--verify`; a subset is recorded as not verified), and
`--mirror DIR_OR_URL` (or `$VCBENCH_MIRROR`) fetches `<mirror>/<file name>`, verified the same
way. Without the network, the error says these two ways and the cache path to copy the file to.
The tests use `file://` mirrors and a server on 127.0.0.1; none reaches the network.

## Row filters

`--obs-query` (on `vcbench datasets prepare` and `vcbench split`) and `obs_query:` (in a spec's
dataset entry) keep the cells matching a pandas query on obs, e.g. `time == 24` or
`` `cell type` in ["CD4T", "B"] ``. The cells kept and dropped are printed and recorded
(`uns["vcbench"]["row_filters"]`, and the split file's `info`); a query that cannot be evaluated,
or keeps no cell, is a one-line error listing the columns.
"""


def _count(value: int | None, approximate: bool) -> str:
    if value is None:
        return "?"
    return f"{'~' if approximate else ''}{value:,}"


def _registry_table() -> list[str]:
    frame = list_datasets().drop(columns=["cached"])
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return lines


def _checksum(spec: DatasetSpec) -> str:
    remote = spec.file
    if remote is None:
        return "not downloaded by vcbench"
    parts = []
    if remote.sha256:
        parts.append(f"sha256 `{remote.sha256}`")
    if remote.known_hash:
        algorithm, _, value = remote.known_hash.partition(":")
        parts.append(f"{algorithm} `{value}`")
    checksum = ", ".join(parts) or "no checksum published (size checked)"
    size = f"{remote.size_bytes:,} bytes" if remote.size_bytes else "size not published"
    return f"{size}; {checksum}"


def _layout_row(source: Source) -> str:
    cols = source.columns
    context = (
        f"`{source.context_template}`"
        if source.context_template
        else (f"`{cols.context}`" if cols.context else f"– (`{cols.context_label}`)")
    )
    delimiter = f"`{cols.combination_delimiter}`" if cols.combination_delimiter else "none"
    extras = []
    if source.qc.keep_obs:
        extras += [f"keep {col} in {list(values)}" for col, values in source.qc.keep_obs]
    if source.qc.min_obs:
        extras += [f"keep {col} >= {value}" for col, value in source.qc.min_obs]
    if source.drop_label_pattern:
        extras.append(f"drop labels matching `{source.drop_label_pattern}`")
    if source.control_parts:
        extras.append(f"remove parts {list(source.control_parts)}")
    if source.dose_selection != "all":
        extras.append(f"dose: {source.dose_selection}")
    if source.genes is not None:
        extras.append("human Ensembl genes, by symbol")
    return (
        f"| `{source.name}` | `{cols.perturbation}` | {context} | `{cols.dose or '–'}` | "
        f"{', '.join(f'`{c}`' for c in cols.control)} | {delimiter} | {'; '.join(extras) or '–'} |"
    )


def _dataset_section(spec: DatasetSpec) -> list[str]:
    lines = [f"### {spec.name}", "", f"{spec.title}. {spec.description}", ""]
    if spec.file is not None:
        lines += [
            f"- File: <{spec.file.url}> (`{spec.file.filename}`), {_checksum(spec)}.",
            f"- Checksum source: {spec.file.checksum_source}.",
        ]
    if spec.manual_download:
        lines.append(f"- Download: {spec.manual_download}")
    lines += [
        f"- Licence: {spec.licence}; accession: {spec.accession}.",
        f"- Keeps and drops: {spec.keeps}",
        f"- After preparation: {spec.after_preparation}",
    ]
    if spec.standard_split is not None:
        split = spec.standard_split
        options = ", ".join(f"{k}={v}" for k, v in split.options)
        lines.append(
            f"- Standard split: {split.description}; scenario `{split.scenario}`, variant "
            f"`{split.variant}`, {options}, fold recorded in "
            "`uns['vcbench']['registry']['standard_split']`."
        )
    lines += [f"- Note: {note}" for note in spec.notes]
    lines += [
        "",
        "| layout | perturbation | context | dose | control | combinations | recipe |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [_layout_row(source) for source in spec.sources]
    return [*lines, ""]


def _tested_table() -> list[str]:
    lines = [
        "| registry name | layout | cells | perturbations | contexts |",
        "|---|---|---|---|---|",
    ]
    for spec in REGISTRY.values():
        for source in spec.sources:
            if source.expected is not None:
                e = source.expected
                lines.append(
                    f"| {spec.name} | `{source.name}` | {e.cells:,} | {e.perturbations:,} | "
                    f"{e.contexts:,} |"
                )
    return lines


def render_datasets_page() -> str:
    """The full text of docs/datasets.md."""
    lines = [
        INTRO,
        "## The registry",
        "",
        "Counts describe the full upstream data as published: `~` marks rounded figures, `?` "
        "figures not verified while writing the registry (they are not guessed). Counts after "
        "preparation are in each dataset's section.",
        "",
        *_registry_table(),
        "",
        "## Datasets: files, layouts and what each recipe keeps",
        "",
    ]
    for spec in REGISTRY.values():
        lines += _dataset_section(spec)
    lines += [
        RECIPE,
        "### Tested on real local files",
        "",
        "`tests/test_datasets_recipes.py` prepares the real subsets end to end, where the "
        "project's test data is present (it skips without it), and checks these counts (`Source.expected`); `tests/test_datasets_paper_recipes.py` "
        "pins the counts each recipe keeps and drops on small files copying each source's obs "
        "layout.",
        "",
        *_tested_table(),
        "",
        BYTES,
    ]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the page to the path given (default docs/datasets.md)."""
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0] if args else "docs/datasets.md")
    target.write_text(render_datasets_page(), encoding="utf-8")
    print(f"Wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
