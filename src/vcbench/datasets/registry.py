"""The dataset registry: public perturbation datasets, where to get them and how to read them.

Data only: each entry is a frozen ``DatasetSpec`` naming the file to download (address, checksum
where one is published, size), the licence and citation, and one or more ``Source`` layouts. A
source is a file layout the preparation recipe can read: the upstream file, or a known local subset
(e.g. the scGen copy of Kang 2018). It maps the file's columns to the data contract and carries the
preparation recipe (QC thresholds, label clean-up, gene identifiers). ``vcbench.datasets.recipes``
applies them; ``vcbench.datasets.fetch`` fetches the files.

Checksums are those recorded by third parties who downloaded the same file (each ``checksum_source``
says where); ``None`` means that no published checksum was found, and the download is then verified
by its size only. Counts (cells, perturbations, contexts) describe the full upstream dataset as published;
``counts_approximate`` marks rounded figures. ``None`` means not verified here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final

from vcbench.errors import DataContractError

SCPERTURB_RECORD: Final = "10044268"
SCPERTURB_V14_RECORD: Final = "13350497"
SCPERTURB_CITATION: Final = (
    "Peidli S, Green TD, Shen C, et al. scPerturb: harmonized single-cell perturbation data. "
    "Nat Methods 21, 531–540 (2024). doi:10.1038/s41592-023-02144-y"
)
SCPERTURB_LICENCE: Final = "CC-BY-4.0"


def _zenodo(record: str, filename: str) -> str:
    return f"https://zenodo.org/records/{record}/files/{filename}?download=1"


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: address, file name in the cache, checksums and size.

    A file is verified by its size, then by ``sha256`` where one is published, else by
    ``known_hash`` (``"md5:…"``); ``vcbench.datasets.verify`` does it.
    """

    url: str
    filename: str
    known_hash: str | None = None  # "md5:…"; None = no published md5
    size_bytes: int | None = None
    checksum_source: str = "none found"
    sha256: str | None = None  # hex; None = no published sha256


@dataclass(frozen=True)
class ColumnMapping:
    """Which ``obs`` columns play which role in the data contract, and the control label(s)."""

    perturbation: str
    context: str | None
    control: tuple[str, ...] = ("control",)
    dataset: str | None = None
    dose: str | None = None
    combination_delimiter: str | None = "+"
    context_label: str = "all"  # the single context's name when ``context`` is None

    def required_columns(self) -> tuple[str, ...]:
        """The obs columns a file must have for this mapping."""
        return tuple(c for c in (self.perturbation, self.context, self.dataset, self.dose) if c)


@dataclass(frozen=True)
class QC:
    """Quality-control thresholds of a preparation recipe (0 or None = not applied).

    ``min_counts_per_cell`` and ``max_mito_fraction`` need raw counts and are skipped (and recorded
    as skipped) on log-normalised input. ``keep_obs`` keeps cells whose column equals one of the
    values; ``min_obs`` keeps cells whose column is at least the value.
    """

    min_genes_per_cell: int = 0
    min_counts_per_cell: int = 0
    max_mito_fraction: float | None = None
    min_cells_per_gene: int = 0
    min_cells_per_condition: int = 0
    keep_obs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    min_obs: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Expected:
    """Counts a prepared file of this source has (checked by the tests on the real local files)."""

    cells: int
    perturbations: int  # distinct non-control conditions
    contexts: int


@dataclass(frozen=True)
class GeneFilter:
    """Keep gene features only and name them by symbol.

    A feature is a gene when its identifier (``id_column`` of var, or var_names when None)
    matches ``id_pattern`` (e.g. human Ensembl gene IDs); other features (other species, hash
    oligos, spike-ins) are dropped. Genes are renamed to the first of ``symbol_columns`` found in
    var (an empty symbol keeps the ID); the ID, version suffix removed, stays in var['ensembl_id'].
    """

    id_pattern: str = r"^ENSG\d{11}(\.\d+)?$"
    id_column: str | None = None
    symbol_columns: tuple[str, ...] = ("gene_short_name", "gene_symbol", "gene_name", "symbol")


@dataclass(frozen=True)
class StandardSplit:
    """The split the papers use on this dataset: a scenario, its variant and options, and the
    held-out context (its label in each layout is the layout's ``test_context``)."""

    scenario: str
    variant: str
    options: tuple[tuple[str, str], ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Source:
    """A file layout the recipe can read, with its column mapping and preparation recipe.

    ``label_pattern``: every raw perturbation label of a file of this layout matches it (used to
    tell layouts with the same columns apart). ``control_parts``: combination parts that mean "no
    perturbation" (GEARS writes singles as ``A+ctrl``): removed, and a label left empty is the
    control. ``drop_label_pattern``: cells whose raw label matches are dropped (e.g. CRISPR guide
    cells in a compound screen). ``context_template``: the context built from several obs columns,
    e.g. ``"{cell_line}_{time}h"``. ``dose_selection``: ``"all"`` keeps every dose, ``"max"``
    keeps each perturbation's highest dose, a number keeps that dose (controls are always kept).
    """

    name: str
    description: str
    columns: ColumnMapping
    qc: QC = QC()
    strip_label_pattern: str | None = None  # regex removed from perturbation labels (guide suffix)
    label_map: tuple[tuple[str, str], ...] = ()  # raw label -> contract label, after stripping
    drop_labels: tuple[str, ...] = ("nan", "None", "")  # cells without an assigned perturbation
    gene_id_column: str | None = None  # var column holding the gene ids; None = var_names
    expected: Expected | None = None
    label_pattern: str | None = None
    control_parts: tuple[str, ...] = ()
    drop_label_pattern: str | None = None
    context_template: str | None = None
    dose_selection: str = "all"
    genes: GeneFilter | None = None
    test_context: str | None = None  # the held-out context of the dataset's standard split


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry: one public dataset, its file, its licence and how to prepare it."""

    name: str
    title: str
    perturbation_type: str
    description: str
    file: RemoteFile | None
    licence: str
    citation: str
    accession: str
    sources: tuple[Source, ...]
    n_cells: int | None = None
    n_perturbations: int | None = None
    n_contexts: int | None = None
    counts_approximate: bool = False
    size: str | None = None
    manual_download: str | None = None  # instructions when there is no single file to fetch
    notes: tuple[str, ...] = field(default=())
    keeps: str = ""  # what the recipe keeps and drops, and why (docs and `datasets info`)
    after_preparation: str = ""  # expected counts after preparation, and how they are known
    standard_split: StandardSplit | None = None

    @property
    def default_source(self) -> Source:
        """The upstream file's layout (the first source)."""
        return self.sources[0]

    def source(self, name: str) -> Source:
        """The source layout called ``name``."""
        for candidate in self.sources:
            if candidate.name == name:
                return candidate
        names = ", ".join(s.name for s in self.sources)
        raise DataContractError(
            f"Dataset {self.name!r} has no source layout {name!r}; its layouts are: {names}. "
            "Pass one of them (CLI: --source), or leave it out to detect the layout from the columns."
        )


# QC of the upstream raw-count files: vcbench's choices, recorded so every run is the same.
_QC_DROPLET = QC(
    min_genes_per_cell=200, max_mito_fraction=0.2, min_cells_per_gene=3, min_cells_per_condition=10
)
_QC_SCIPLEX = QC(
    min_genes_per_cell=100, max_mito_fraction=0.2, min_cells_per_gene=3, min_cells_per_condition=10
)


def _scperturb_source(
    context: str | None = "cell_line",
    *,
    dose: str | None = None,
    delimiter: str | None = "_",
    qc: QC = _QC_DROPLET,
    context_label: str = "all",
    strip: str | None = None,
    label_map: tuple[tuple[str, str], ...] = (),
    drop_labels: tuple[str, ...] = ("nan", "None", ""),
    description: str = "scPerturb's processed h5ad (raw counts; obs 'perturbation', 'cell_line', "
    "'nperts'; control label 'control'; gene symbols as var_names, 'ensembl_id' in var)",
) -> Source:
    return Source(
        name="scperturb",
        description=description,
        columns=ColumnMapping(
            perturbation="perturbation",
            context=context,
            control=("control",),
            dose=dose,
            combination_delimiter=delimiter,
            context_label=context_label,
        ),
        qc=qc,
        strip_label_pattern=strip,
        label_map=label_map,
        drop_labels=drop_labels,
    )


_NORMAN = DatasetSpec(
    name="norman2019",
    title="Norman et al. 2019, K562 CRISPRa singles and pairs (Perturb-seq)",
    perturbation_type="CRISPRa",
    description="K562 cells with one or two genes activated by CRISPRa; the combination benchmark.",
    file=RemoteFile(
        url=_zenodo(SCPERTURB_RECORD, "NormanWeissman2019_filtered.h5ad"),
        filename="NormanWeissman2019_filtered.h5ad",
        known_hash="md5:c870e6967d91c017d9da827bab183cd6",
        size_bytes=698_680_199,
        checksum_source="md5 recorded in github.com/gao-lab/CASCADE data/download/Norman-2019/README.md "
        "(downloaded 2024-03-17) and in a public download script; size from a public download script",
    ),
    licence=SCPERTURB_LICENCE,
    citation="Norman TM, Horlbeck MA, Replogle JM, et al. Exploring genetic interaction manifolds "
    "constructed from rich single-cell phenotypes. Science 365, 786–793 (2019). "
    "doi:10.1126/science.aax4438; " + SCPERTURB_CITATION,
    accession="GEO GSE133344",
    sources=(
        replace(
            _scperturb_source(),
            # scPerturb joins pairs with '_' and calls the control 'control'; no '+', no 'ctrl'
            label_pattern=r"(?!.*\+)(?!(.*_)?ctrl(_.*)?$).+",
        ),
        Source(
            name="gears",
            description="GEARS' copy (norman/perturb_processed.h5ad): obs 'condition' with "
            "singles as 'A+ctrl' (or 'ctrl+A'), pairs as 'A+B' and the control 'ctrl', "
            "'cell_type'; 'ctrl' parts are removed ('A+ctrl' -> 'A')",
            columns=ColumnMapping(perturbation="condition", context="cell_type", control=("ctrl",)),
            qc=QC(min_cells_per_condition=10),
            label_pattern=r"ctrl|[^+]+\+[^+]+",
            control_parts=("ctrl",),
        ),
        Source(
            name="perturbench_devel",
            description="PerturBench's devel subset (the bundled demo file): obs "
            "'condition' ('A+B' combinations), 'cell_type', 'dataset'; log1p-normalised; only the "
            "'norman19' cells are kept",
            columns=ColumnMapping(perturbation="condition", context="cell_type", dataset="dataset"),
            qc=QC(min_cells_per_condition=10, keep_obs=(("dataset", ("norman19",)),)),
            expected=Expected(cells=3375, perturbations=33, contexts=1),
            label_pattern=r"(?!(.*\+)?ctrl(\+.*)?$)[^+]+(\+[^+]+)*",
        ),
    ),
    # 111,445 cells; 105 single + 131 paired CRISPRa conditions besides control: read from this
    # file (md5 c870e696…, records 10044268 and 13350497) by public projects, and by a survey of
    # record 7041849; scPerturb's metadata table lists 237 perturbations incl. control.
    n_cells=111_445,
    n_perturbations=236,
    n_contexts=1,
    size="699 MB",
    keeps="All K562 cells with an assigned guide pair; singles and pairs as combinations (scPerturb "
    "'A_B', GEARS 'A+B' with 'A+ctrl' singles and 'ctrl' controls, PerturBench 'A+B'), detected "
    "from the labels; conditions under 10 cells dropped. Another layout: --delimiter and --control.",
    after_preparation="scPerturb file: at most 111,445 cells, 236 perturbations (105 singles + 131 "
    "pairs), 1 context (not run here: the file is not on this machine; PerturBench's curation, "
    "with its own QC, has 91,168 cells); the scPerturb, GEARS and "
    "override layouts are pinned by tests/test_datasets_paper_recipes.py (test_norman_*).",
)

_REPLOGLE_CITATION = (
    "Replogle JM, Saunders RA, Pogson AN, et al. Mapping information-rich genotype-phenotype "
    "landscapes with genome-scale Perturb-seq. Cell 185, 2559–2575 (2022). "
    "doi:10.1016/j.cell.2022.05.013; " + SCPERTURB_CITATION
)
_CASCADE_REPLOGLE = (
    "md5 recorded in github.com/gao-lab/CASCADE data/download/Replogle-2022/README.md (2024-03-17)"
)

_REPLOGLE_K562 = DatasetSpec(
    name="replogle2022_k562_essential",
    title="Replogle et al. 2022, K562 essential-gene CRISPRi screen",
    perturbation_type="CRISPRi",
    description="Day-8 K562 CRISPRi Perturb-seq of common essential genes.",
    file=RemoteFile(
        url=_zenodo(SCPERTURB_RECORD, "ReplogleWeissman2022_K562_essential.h5ad"),
        filename="ReplogleWeissman2022_K562_essential.h5ad",
        known_hash="md5:d8cba17576d1a8afc0f7d71b79cad0f7",
        # 1,546,729,675 bytes: pinned with this md5 by several public download scripts (records
        # 7041849 and 13350497 carry the same md5, so the same bytes)
        size_bytes=1_546_729_675,
        checksum_source=_CASCADE_REPLOGLE
        + "; the same md5 is pinned by public projects for records 7041849 and 13350497",
    ),
    licence=SCPERTURB_LICENCE,
    citation=_REPLOGLE_CITATION,
    accession="SRA PRJNA831566; figshare plus article 20029387",
    sources=(_scperturb_source(),),
    # 310,385 cells × 8,563 genes, 2,057 target genes + non-targeting controls: a public review of
    # this file (scPerturb 1.4 copy, same md5); scPerturb's metadata table lists 2,058 incl. control.
    n_cells=310_385,
    n_perturbations=2_057,
    n_contexts=1,
    keeps="All cells with a guide; non-targeting guides are the control. Droplet QC.",
    after_preparation="not run here (the file is not on this machine).",
)

_REPLOGLE_RPE1 = DatasetSpec(
    name="replogle2022_rpe1",
    title="Replogle et al. 2022, RPE1 essential-gene CRISPRi screen",
    perturbation_type="CRISPRi",
    description="RPE1 CRISPRi Perturb-seq of common essential genes (a second cell context).",
    file=RemoteFile(
        url=_zenodo(SCPERTURB_RECORD, "ReplogleWeissman2022_rpe1.h5ad"),
        filename="ReplogleWeissman2022_rpe1.h5ad",
        known_hash="md5:cc7f1ec50aeb3a3e1b4a6cfa713d80fa",
        # 1,236,886,900 bytes: pinned with this md5 by public download scripts (records 10044268,
        # 7041849 and 13350497 carry the same md5)
        size_bytes=1_236_886_900,
        checksum_source=_CASCADE_REPLOGLE
        + "; the same md5 is pinned by public projects for records 7041849 and 13350497",
    ),
    licence=SCPERTURB_LICENCE,
    citation=_REPLOGLE_CITATION,
    accession="SRA PRJNA831566; figshare plus article 20029387",
    sources=(_scperturb_source(),),
    # 247,914 cells × 8,749 genes, 2,393 target genes + 11,485 control cells: read from this file
    # by public projects (a server audit of the md5-identical 1.4 copy; a survey of record
    # 7041849); scPerturb's metadata table lists 2,394 perturbations incl. control.
    n_cells=247_914,
    n_perturbations=2_393,
    n_contexts=1,
    keeps="All cells with a guide; non-targeting guides are the control. Droplet QC.",
    after_preparation="not run here (the file is not on this machine).",
)

_ADAMSON_CITATION = (
    "Adamson B, Norman TM, Jost M, et al. A multiplexed single-cell CRISPR screening platform "
    "enables systematic dissection of the unfolded protein response. Cell 167, 1867–1882 (2016). "
    "doi:10.1016/j.cell.2016.11.048; " + SCPERTURB_CITATION
)
_CASCADE_ADAMSON = (
    "md5 recorded in github.com/gao-lab/CASCADE data/download/Adamson-2016/README.md (2024-03-17)"
)

# scPerturb's Adamson files label guide constructs, not genes: 'DDIT3_pDS263', multi-gene constructs
# such as 'ATF6_PERK_IRE1_pMJ158', the negative-control constructs '62(mod)_pBA581',
# '63(mod)_pBA580', 'Gal4-4(mod)_pBA582', '3x_neg_ctrl_pMJ144-1/-2', and '*' for cells assigned to no
# guide (labels as read from these files by public projects). The recipe strips the plasmid suffix,
# maps the control constructs to 'control', drops '*', and reads a multi-gene construct as a
# combination of its '_'-separated parts.
_ADAMSON_SOURCE = _scperturb_source(
    strip=r"_p[A-Z]{2}\d+(-\d+)?$",
    label_map=(
        ("62(mod)", "control"),
        ("63(mod)", "control"),
        ("Gal4-4(mod)", "control"),
        ("3x_neg_ctrl", "control"),
    ),
    drop_labels=("nan", "None", "", "*"),
    description="scPerturb's processed h5ad of an Adamson 10X run (raw counts; obs 'perturbation' "
    "holds guide constructs such as 'DDIT3_pDS263', negative-control constructs and '*' for "
    "unassigned cells)",
)

_ADAMSON_PILOT = DatasetSpec(
    name="adamson2016_pilot",
    title="Adamson et al. 2016, K562 CRISPRi pilot (10X run GSM2406675)",
    perturbation_type="CRISPRi",
    description="Pilot Perturb-seq of UPR regulators in K562 (8 guide barcodes).",
    file=RemoteFile(
        url=_zenodo(SCPERTURB_RECORD, "AdamsonWeissman2016_GSM2406675_10X001.h5ad"),
        filename="AdamsonWeissman2016_GSM2406675_10X001.h5ad",
        known_hash="md5:232f7e3756d41602bbe434b50662a76f",
        size_bytes=34_557_246,  # pinned with this md5 by a public download script (record 13350497)
        checksum_source=_CASCADE_ADAMSON
        + "; the same md5 is recorded by a second public project for record 13350497",
    ),
    licence=SCPERTURB_LICENCE,
    citation=_ADAMSON_CITATION,
    accession="GEO GSM2406675 (GSE90546)",
    sources=(_ADAMSON_SOURCE,),
    # 5,768 cells × 35,635 genes; labels: 7 targeted genes (BHLHE40, CREB1, DDIT3, EP300, SNAI1,
    # SPI1, ZNF326), the control construct 62(mod)_pBA581 and '*' (unassigned): read from this file
    # by public projects; scPerturb's metadata table lists 9 labels incl. unperturbed.
    n_cells=5768,
    n_perturbations=7,
    n_contexts=1,
    keeps="Guide constructs reduced to genes (plasmid suffix stripped), negative-control constructs as the control, unassigned '*' cells dropped. Droplet QC.",
    after_preparation="not run here (the file is not on this machine).",
)

_ADAMSON_UPR = DatasetSpec(
    name="adamson2016_upr",
    title="Adamson et al. 2016, K562 CRISPRi UPR Perturb-seq (10X run GSM2406681)",
    perturbation_type="CRISPRi",
    description="UPR Perturb-seq: 91 sgRNAs targeting 82 genes in K562, about 65,000 cells.",
    file=RemoteFile(
        url=_zenodo(SCPERTURB_RECORD, "AdamsonWeissman2016_GSM2406681_10X010.h5ad"),
        filename="AdamsonWeissman2016_GSM2406681_10X010.h5ad",
        known_hash="md5:2fa44ea61a8dd35742af618638ec65fc",
        size_bytes=471_286_951,  # pinned with this md5 by a public download script (13350497)
        checksum_source=_CASCADE_ADAMSON,
    ),
    licence=SCPERTURB_LICENCE,
    citation=_ADAMSON_CITATION,
    accession="GEO GSM2406681 (GSE90546)",
    sources=(_ADAMSON_SOURCE,),
    # 65,337 cells: a public catalogue of this scPerturb file (and the GEO cell identities).
    # 82 genes is the paper's count (91 sgRNAs); the file labels constructs, 114 labels incl.
    # controls per scPerturb's metadata table, so the file's condition count is not verified.
    n_cells=65_337,
    n_perturbations=82,
    n_contexts=1,
    counts_approximate=True,
    keeps="Guide constructs reduced to genes (plasmid suffix stripped), negative-control constructs as the control, unassigned '*' cells dropped. Droplet QC.",
    after_preparation="not run here (the file is not on this machine).",
)

_SCIPLEX3 = DatasetSpec(
    name="srivatsan2020_sciplex3",
    title="Srivatsan et al. 2020, sci-Plex3 (A549, K562, MCF7; compounds × doses)",
    perturbation_type="compound",
    description="188 compounds at 4 doses (10 nM to 10 uM) in three cancer cell lines, 24 h.",
    file=RemoteFile(
        url=_zenodo(SCPERTURB_V14_RECORD, "SrivatsanTrapnell2020_sciplex3.h5ad"),
        filename="SrivatsanTrapnell2020_sciplex3.h5ad",
        known_hash="md5:c9e70629505d98c7ca1a837f62b14e89",
        size_bytes=2_526_631_614,
        checksum_source="md5 and size of the corrected scPerturb 1.4 file (record 13350497) pinned "
        "by several public projects (download scripts, source manifests); the older md5 "
        "d1f51b9f… belongs to pre-1.4 copies",
    ),
    licence=SCPERTURB_LICENCE,
    citation="Srivatsan SR, McFaline-Figueroa JL, Ramani V, et al. Massively multiplex chemical "
    "transcriptomics at single-cell resolution. Science 367, 45–51 (2020). "
    "doi:10.1126/science.aax6234; " + SCPERTURB_CITATION,
    accession="GEO GSE139944 (GSM4150378)",
    sources=(
        replace(
            _scperturb_source(
                dose="dose_value",
                delimiter=None,
                qc=_QC_SCIPLEX,
                description="scPerturb's processed h5ad (raw counts; obs 'perturbation' = "
                "compound, 'cell_line' (missing for some cells), 'dose_value' in nM, 'time'; "
                "vehicle cells labelled 'control'; 110,983 features with Ensembl IDs, symbols in "
                "the feature table)",
            ),
            dose_selection="max",
            genes=GeneFilter(),
        ),
    ),
    # 799,317 cells × 110,983 genes in this (1.4) file, pinned by public projects reading it; the
    # paper's ~650,000 counts cells passing its QC. 188 compounds (scPerturb's metadata table: 189
    # incl. control); A549, K562, MCF7.
    n_cells=799_317,
    n_perturbations=188,
    n_contexts=3,
    notes=(
        "Compound names may contain '+', so combination parsing is off.",
        "Vehicle cells carry dose 0 in some copies; the dose stays in obs 'vcb_dose'.",
        "Gene symbols come from the file's own feature table (the knowledge module's "
        "harmonisation is not used here).",
    ),
    keeps="Each compound's highest dose (10 µM, as PerturBench keeps) and all vehicle cells; "
    "--dose all keeps every dose for the dose scenarios, --dose VALUE one dose. Human Ensembl "
    "gene features only, renamed to their symbols (other features dropped). Cells without a "
    "cell line are dropped and counted; QC: 100 genes per cell, 20% mitochondrial, genes in 3 "
    "cells, conditions of 10 cells. Read backed, in chunks of cells.",
    after_preparation="188 compounds × 3 cell lines at one dose; PerturBench's highest-dose "
    "selection of this data has 178,213 cells (its own QC; as listed by lamin.ai's re-curation of "
    "PerturBench); vcbench's count on the real file is "
    "not verified here (the 2.5 GB file is not on this machine); the recipe's keeps and drops are "
    "pinned on a file of its layout by tests/test_datasets_paper_recipes.py (test_sciplex_*).",
)

_MCFARLAND = DatasetSpec(
    name="mcfarland2020",
    title="McFarland et al. 2020, MIX-seq (pooled cancer cell lines × compounds)",
    perturbation_type="compound",
    description="Pooled cancer cell lines treated with compounds, demultiplexed by SNPs (MIX-seq).",
    file=RemoteFile(
        url=_zenodo(SCPERTURB_RECORD, "McFarlandTsherniak2020.h5ad"),
        filename="McFarlandTsherniak2020.h5ad",
        # 1,459,410,830 bytes: record 13350497's file list (scPerturb 1.4 changed only the sci-Plex,
        # Shifrut and Dixit files, per its authors in pertpy PR #649); no md5 found for this record
        size_bytes=1_459_410_830,
    ),
    licence=SCPERTURB_LICENCE,
    citation="McFarland JM, Paolella BR, Warren A, et al. Multiplexed single-cell transcriptional "
    "response profiling to define cancer vulnerabilities and drug mechanisms of action. "
    "Nat Commun 11, 4296 (2020). doi:10.1038/s41467-020-17440-w; " + SCPERTURB_CITATION,
    accession="figshare (Broad DepMap MIX-seq); scPerturb",
    sources=(
        replace(
            _scperturb_source(
                dose="dose_value",
                delimiter=None,
                qc=replace(_QC_DROPLET, keep_obs=(("cell_quality", ("normal",)),)),
                description="scPerturb's processed h5ad (raw counts; obs 'perturbation' = "
                "compound, or a CRISPR guide 'sgGPX4', 'sgLACZ', 'sgOR2J2'; 'cell_line', "
                "'cell_quality' (normal, doublet, low_quality), 'dose_value', 'time' in hours; "
                "vehicle cells labelled 'control')",
            ),
            drop_label_pattern=r"^sg",
            context_template="{cell_line}_{time}h",
        ),
    ),
    # 182,875 cells: two public listings of the scPerturb file (record 7041849 and a later copy).
    # 17 perturbations besides control: scPerturb's metadata table (18 incl. control), and a public
    # benchmark that kept 17 targets and all 182,875 cells, grouped by 209 cell lines (obs
    # 'cell_line').
    n_cells=182_875,
    n_perturbations=17,
    n_contexts=209,
    notes=(
        "The context is the cell line at a time point ('{cell_line}_{time}h'), so time points are "
        "never pooled; keep one with --obs-query 'time == 24'.",
    ),
    keeps="Compound and vehicle cells of 'normal' cell_quality; CRISPR guide cells (labels "
    "starting 'sg': sgGPX4 and its sgLACZ/sgOR2J2 controls, a genetic experiment) and doublets "
    "and low-quality cells dropped. Context = cell line × time point. Droplet QC as for "
    "scPerturb files.",
    after_preparation="14 compounds (17 labels minus 3 guides) over cell line × time contexts; "
    "cell counts on the real file not verified here (the file is not on this machine); pinned on "
    "a file of its layout by tests/test_datasets_paper_recipes.py (test_mcfarland_*).",
)

_KANG = DatasetSpec(
    name="kang2018",
    title="Kang et al. 2018, PBMC IFN-beta stimulation (8 lupus patients)",
    perturbation_type="cytokine",
    description="PBMCs with and without 6 h IFN-beta stimulation; contexts are cell types.",
    file=RemoteFile(
        url="https://figshare.com/ndownloader/files/34464122",
        filename="kang_2018.h5ad",
        size_bytes=38_356_412,  # pinned (with a sha256, no md5) by a public project downloading it
        checksum_source="none published (pertpy's figshare copy; the address is pertpy's "
        "kang_2018() loader)",
    ),
    licence="public (GEO)",
    citation="Kang HM, Subramaniam M, Targ S, et al. Multiplexed droplet single-cell RNA-sequencing "
    "using natural genetic variation. Nat Biotechnol 36, 89–94 (2018). doi:10.1038/nbt.4042",
    accession="GEO GSE96583",
    sources=(
        Source(
            name="pertpy",
            description="pertpy's kang_2018.h5ad (raw counts; obs 'label' ctrl/stim, "
            "'cell_type', 'replicate' = patient)",
            columns=ColumnMapping(perturbation="label", context="cell_type", control=("ctrl",)),
            qc=_QC_DROPLET,
            label_map=(("stim", "IFN-beta"),),
        ),
        Source(
            name="scgen",
            description="scGen's 'valid' split (log1p-normalised HVGs; obs "
            "'condition' control/stimulated, 'cell_type')",
            columns=ColumnMapping(perturbation="condition", context="cell_type"),
            qc=QC(min_cells_per_condition=10),
            label_map=(("stimulated", "IFN-beta"),),
            expected=Expected(cells=1975, perturbations=1, contexts=7),
        ),
    ),
    # 24,673 cells × 15,706 genes; 8 cell types in obs 'cell_type' (11,238 CD4 T … 132
    # megakaryocytes): read from this file by several public projects (liana's kang_2018 loader too)
    n_cells=24_673,
    n_perturbations=1,
    n_contexts=8,
    notes=(
        "Patients ('replicate' in pertpy's file) are kept in obs; use them as contexts with "
        "--map context=replicate.",
    ),
    keeps="All cells; 'stim' (or 'stimulated') renamed IFN-beta; cell types are the contexts. Droplet QC on pertpy's counts; the scGen subset keeps its authors' QC.",
    after_preparation="scGen subset: 1,975 cells, 1 perturbation, 7 cell types (tests/test_datasets_recipes.py).",
)

_PAPALEXI = DatasetSpec(
    name="papalexi2021",
    title="Papalexi et al. 2021, THP-1 ECCITE-seq CRISPR-KO (immune checkpoint regulators)",
    perturbation_type="CRISPR-KO",
    description="IFN-gamma-stimulated THP-1 cells with 25 targeted genes and non-targeting guides.",
    file=RemoteFile(
        url=_zenodo(SCPERTURB_RECORD, "PapalexiSatija2021_eccite_RNA.h5ad"),
        filename="PapalexiSatija2021_eccite_RNA.h5ad",
        # 147,215,278 bytes: record 13350497's file list (unchanged by scPerturb 1.4, per its authors
        # in pertpy PR #649). Its md5 there (d9e8bfe2…) is not confirmed for this record, so unset.
        size_bytes=147_215_278,
    ),
    licence=SCPERTURB_LICENCE,
    citation="Papalexi E, Mimitou EP, Butler AW, et al. Characterizing the molecular regulation of "
    "inhibitory immune checkpoints with multimodal single-cell screens. Nat Genet 53, 322–331 "
    "(2021). doi:10.1038/s41588-021-00778-2; " + SCPERTURB_CITATION,
    accession="GEO GSE153056",
    sources=(
        _scperturb_source(
            delimiter=None,
            strip=r"g\d+$",
            description="scPerturb's processed h5ad (raw counts; obs 'perturbation' at guide level, "
            "e.g. 'STAT1g2', reduced to the target gene; 'cell_line'; control 'control')",
        ),
        Source(
            name="sceptre",
            description="sceptredata's gene-downsampled copy (raw counts; obs "
            "'perturbation' with 'control', 'grna_max_frac', 'bio_rep'); cells whose top gRNA "
            "has under 80% of their gRNA UMIs are dropped",
            columns=ColumnMapping(
                perturbation="perturbation",
                context=None,
                combination_delimiter=None,
                context_label="THP-1",
            ),
            qc=QC(min_cells_per_condition=10, min_obs=(("grna_max_frac", 0.8),)),
            expected=Expected(cells=16192, perturbations=25, contexts=1),
        ),
    ),
    # 20,729 cells, 25 targeted genes: a public survey reading this file (the paper: 20,729 cells)
    n_cells=20_729,
    n_perturbations=25,
    n_contexts=1,
    keeps="Guide labels reduced to the target gene; sceptre copy: cells whose top gRNA holds under 80% of their gRNA UMIs dropped. Droplet QC on the scPerturb file.",
    after_preparation="sceptre copy: 16,192 cells, 25 perturbations, 1 context (tests/test_datasets_recipes.py).",
)

_FRANGIEH = DatasetSpec(
    name="frangieh2021",
    title="Frangieh et al. 2021, melanoma Perturb-CITE-seq (immune evasion)",
    perturbation_type="CRISPR-KO",
    description="Patient-derived melanoma cells, 248 targeted genes, under control, IFN-gamma and "
    "T-cell co-culture conditions.",
    file=RemoteFile(
        url=_zenodo(SCPERTURB_RECORD, "FrangiehIzar2021_RNA.h5ad"),
        filename="FrangiehIzar2021_RNA.h5ad",
        known_hash="md5:dc438f53c476a3dd562898654d48ed15",
        size_bytes=1_458_928_348,
        checksum_source="md5 and size for record 10044268 pinned by a public acquisition script "
        "(from the record's file list) and recorded in a second public project's provenance; "
        "record 13350497 lists the same size",
    ),
    licence=SCPERTURB_LICENCE,
    citation="Frangieh CJ, Melms JC, Thakore PI, et al. Multimodal pooled Perturb-CITE-seq screens "
    "in patient models define mechanisms of cancer immune evasion. Nat Genet 53, 332–341 (2021). "
    "doi:10.1038/s41588-021-00779-1; " + SCPERTURB_CITATION,
    accession="Broad Single Cell Portal SCP1064",
    sources=(
        _scperturb_source(
            context="perturbation_2",
            delimiter="_",
            description="scPerturb's processed h5ad (raw counts; obs 'perturbation' = targeted "
            "gene(s) joined by '_', control 'control'; 'perturbation_2' = the culture condition: "
            "control, IFN-gamma or co-culture)",
        ),
    ),
    # 218,331 cells × 23,712 genes; 248 targeted genes besides control; 3 conditions (Control, IFNg,
    # Co-culture in obs 'perturbation_2'): read from this file (md5 dc438f53…) by public projects;
    # scPerturb's metadata table lists 249 incl. control. The paper's ~750 counts guides.
    n_cells=218_331,
    n_perturbations=248,
    n_contexts=3,
    notes=(
        "The paper reads each knockout against the control cells of the same culture condition, "
        "so 'perturbation_2' (the condition) is the context.",
    ),
    keeps="All cells with a guide assignment; the culture condition ('perturbation_2': "
    "control, IFN-gamma, co-culture) is the context; cells without a condition dropped and counted; "
    "multi-gene labels read as combinations ('_'). Droplet QC.",
    after_preparation="248 targeted genes in 3 condition contexts; cell counts on the real file "
    "not verified here (the file is not on this machine); pinned on a file of its layout by "
    "tests/test_datasets_paper_recipes.py::test_frangieh_conditions_are_the_contexts.",
)

_TAHOE = DatasetSpec(
    name="tahoe100m",
    title="Tahoe-100M (Tahoe Bio 2025), 50 cancer cell lines × 379 compounds × 3 doses",
    perturbation_type="compound",
    description="About 100 million cells; too large for one machine, so vcbench prepares a subset.",
    file=None,
    licence="CC0-1.0",
    citation="Tahoe Therapeutics (formerly Vevo). Tahoe-100M: a giga-scale single-cell "
    "perturbation atlas. bioRxiv preprint (2025); data: huggingface.co/datasets/tahoebio/Tahoe-100M "
    "(cite the preprint named on the dataset card)",
    accession="Hugging Face dataset tahoebio/Tahoe-100M",
    sources=(
        Source(
            name="subset",
            description="an h5ad subset built from the Hugging Face parquet shards (raw counts; "
            "obs 'drug' with vehicle 'DMSO_TF', 'cell_line_id', 'plate', 'sample')",
            columns=ColumnMapping(
                perturbation="drug",
                context="cell_line_id",
                control=("DMSO_TF",),
                combination_delimiter=None,
            ),
            qc=_QC_DROPLET,
        ),
    ),
    n_cells=100_648_790,
    n_perturbations=379,
    n_contexts=50,
    size="≈429 GB",
    manual_download=(
        "Tahoe-100M is about 429 GB of parquet shards (https://huggingface.co/datasets/"
        "tahoebio/Tahoe-100M), so vcbench does not download it. Build a subset h5ad: read the "
        "shards of one plate with the `datasets` or `pyarrow` library, keep the cell lines you "
        "need (obs 'cell_line_id') and their plate-matched 'DMSO_TF' vehicle cells, turn the "
        "'genes'/'expressions' columns into a sparse counts matrix with the gene table in "
        "metadata/gene_metadata.parquet, and write it with anndata. Then run "
        "`vcbench datasets prepare tahoe100m --from SUBSET.h5ad --out FILE.h5ad`."
    ),
    notes=("The dose is part of the 'sample' metadata; map it with --map dose=COLUMN once added.",),
    keeps="A subset you build (see the download note); droplet QC.",
    after_preparation="depends on the subset built.",
)

_KANG_CD4T = replace(
    _KANG,
    name="kang2018_cd4t",
    title="Kang et al. 2018 PBMC IFN-beta, CD4 T held out (the scGen and CPA set-up)",
    description="The Kang 2018 file with its standard unseen-context split: stimulated CD4 T "
    "cells are predicted from the other cell types (their control CD4 T cells are seen).",
    sources=(
        replace(_KANG.sources[0], test_context="CD4 T cells"),
        replace(_KANG.sources[1], test_context="CD4T"),
    ),
    standard_split=StandardSplit(
        scenario="context",
        variant="leave_one_out",
        options=(("test_controls", "train"),),
        description="hold out CD4 T: the stimulated CD4 T cells are the test set, the control "
        "CD4 T cells are training inputs (scGen, CPA)",
    ),
    keeps="As kang2018; the prepared file records the split (uns['vcbench']['registry']"
    "['standard_split']): context leave_one_out at the CD4 T fold with test_controls=train.",
    after_preparation="scGen subset: 1,975 cells, 1 perturbation, 7 cell types, CD4T the "
    "held-out context (tests/test_datasets_paper_recipes.py).",
)

REGISTRY: Final[dict[str, DatasetSpec]] = {
    spec.name: spec
    for spec in (
        _NORMAN,
        _REPLOGLE_K562,
        _REPLOGLE_RPE1,
        _ADAMSON_PILOT,
        _ADAMSON_UPR,
        _SCIPLEX3,
        _MCFARLAND,
        _KANG,
        _KANG_CD4T,
        _PAPALEXI,
        _FRANGIEH,
        _TAHOE,
    )
}


def get_spec(name: str) -> DatasetSpec:
    """The registry entry called ``name`` (case-insensitive)."""
    spec = REGISTRY.get(name.lower())
    if spec is None:
        raise DataContractError(
            f"No registry dataset called {name!r}. Registry datasets: {', '.join(REGISTRY)}. "
            "Run `vcbench datasets list` to see them, or give the path of an .h5ad file."
        )
    return spec
