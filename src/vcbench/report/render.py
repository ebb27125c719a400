"""Render a :class:`~vcbench.report.build.Report` as a self-contained HTML page or as Markdown,
and write both for a results directory."""

from __future__ import annotations

import datetime
import functools
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import vcbench
from vcbench.analysis.common import AnalysisError
from vcbench.files import write_table_atomic, write_text_atomic
from vcbench.report.build import Block, Report, build_report
from vcbench.report.tables import html_table, markdown_table, md_text

NOT_AVAILABLE = "Not available in this benchmark"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;
background:#fafafa;line-height:1.45}
main{max-width:1280px;margin:0 auto;padding:12px 24px 64px;box-sizing:border-box}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:0 18px}h1{margin:0;font-size:24px}h2{margin:28px 0 8px;padding-top:6px;border-top:2px solid #0072B2;
font-size:20px}#summary h2,#headline h2{margin-top:8px;padding-top:4px}#summary h2{font-size:17px;border:0;margin:4px 0 2px;padding:0}
.meta{color:#555;font-size:13px}
nav{background:#fff;border:1px solid #ddd;border-radius:6px;padding:4px 12px;margin:4px 0;
font-size:13px;display:flex;flex-wrap:wrap;gap:2px 14px}nav a{color:#0072B2;text-decoration:none;white-space:nowrap}
.summary{background:#fff;border-left:4px solid #E69F00;padding:4px 18px 4px 30px;border-radius:4px;
margin:0;font-size:13px;columns:2 440px;column-gap:36px}.summary li{margin:2px 0}
.intro{color:#333;margin:4px 0;font-size:14px}
.table-wrap{overflow-x:auto;margin:6px 0 18px}
table{border-collapse:collapse;font-size:13px;background:#fff}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#eef3f8;position:sticky;top:0}
.text{text-align:left}
tbody tr:nth-child(even){background:#f6f6f6}td.best{font-weight:700;background:#e6f2fa}
.detail{color:#666;font-size:11px}.caption{font-weight:600;margin:10px 0 2px}
.table-wrap{max-width:100%}
img{max-width:100%;height:auto;background:#fff;border:1px solid #eee;margin:4px 0 12px}
.unavailable{color:#7a4b00;background:#fff6e5;border:1px solid #f0d9a8;padding:8px 12px;
border-radius:4px}details{margin:0 0 12px}summary{cursor:pointer;color:#0072B2}
"""


@dataclass(frozen=True)
class ReportFiles:
    """Where :func:`write_report` wrote the report."""

    html: Path
    markdown: Path
    leaderboard: Path
    findings: Path


def _html_block(block: Block) -> str:
    caption = f'<div class="caption">{html.escape(block.caption)}</div>' if block.caption else ""
    if block.kind == "text":
        body = f"<p>{html.escape(str(block.content))}</p>"
    elif block.kind == "figure":
        body = f'<img src="{block.content}" alt="{html.escape(block.caption)}">'
    else:
        assert isinstance(block.content, pd.DataFrame)
        body = html_table(block.content, block.bold)
    if block.collapsed:
        return f"<details><summary>{html.escape(block.caption)}</summary>{body}</details>"
    return caption + body


def render_html(report: Report) -> str:
    """A self-contained HTML page: inline CSS, figures as PNG data URIs, no network needed."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in report.sections)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(report.title)}</title><style>{CSS}</style></head><body><main>",
        f"<header><h1>{html.escape(report.title)}</h1>",
        f'<div class="meta">vcbench {vcbench.__version__} · generated {stamp} · definitions: '
        "docs/report.md and docs/metrics.md</div></header>",
        f'<nav><a href="#summary">Summary</a>{nav}</nav>',
        '<section id="summary"><h2>Summary of findings</h2><ul class="summary">',
        *(f"<li>{html.escape(line)}</li>" for line in report.summary),
        "</ul></section>",
    ]
    for section in report.sections:
        parts.append(f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>')
        if section.unavailable:
            parts.append(
                f'<p class="unavailable">{NOT_AVAILABLE}: {html.escape(section.unavailable)}</p>'
            )
        else:
            parts.append(f'<p class="intro">{html.escape(section.intro)}</p>')
            parts.extend(_html_block(block) for block in section.blocks)
        parts.append("</section>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


def render_markdown(report: Report) -> str:
    """The report as Markdown (tables and text; the figures are in the HTML page)."""
    lines = [f"# {md_text(report.title)}", "", "## Summary of findings", ""]
    lines += [f"- {md_text(line)}" for line in report.summary]
    for section in report.sections:
        lines += ["", f"## {md_text(section.title)}", ""]
        if section.unavailable:
            lines.append(f"_{NOT_AVAILABLE}: {md_text(section.unavailable)}_")
            continue
        lines.append(md_text(section.intro))
        for block in section.blocks:
            if block.kind == "figure":
                continue
            lines.append("")
            if block.kind == "text":
                lines.append(md_text(block.content))
                continue
            assert isinstance(block.content, pd.DataFrame)
            lines += [
                f"**{md_text(block.caption)}**",
                "",
                markdown_table(block.content, block.bold),
            ]
    has_figures = any(b.kind == "figure" for s in report.sections for b in s.blocks)
    if has_figures:
        lines += ["", "_Figures: see report.html in the same directory._"]
    return "\n".join(lines) + "\n"


def load_results(results_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``results.parquet`` and (when present) ``records.parquet`` of a benchmark's output folder."""
    folder = Path(results_dir)
    path = folder / "results.parquet"
    if not path.is_file():
        raise AnalysisError(
            f"No results.parquet in {folder}: pass the output directory of `vcbench run` "
            "(the spec's `output`, default results/)."
        )
    records_path = folder / "records.parquet"
    records = pd.read_parquet(records_path) if records_path.is_file() else None
    return pd.read_parquet(path), records


def write_report(
    results_dir: str | Path,
    out: str | Path | None = None,
    *,
    title: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> ReportFiles:
    """Write ``report.html`` (``out``, default ``RESULTS_DIR/report.html``) and ``report.md``
    beside it, and ``leaderboard.csv`` (:data:`~vcbench.analysis.LEADERBOARD_COLUMNS`) and
    ``findings.csv`` (:data:`~vcbench.analysis.findings.FINDING_COLUMNS`: the numbers of the
    report's findings) in ``results_dir``, from the tables that ``vcbench run`` wrote there."""
    from vcbench.analysis.findings import split_shifts

    folder = Path(results_dir)
    results, records = load_results(folder)
    title = title or f"vcbench report: {folder.resolve().name}"
    if results.empty:  # every task failed: say so and list why
        from vcbench.report.failed import failed_run_report

        report = failed_run_report(records, folder, title)
    else:
        from vcbench.analysis import leaderboard

        board = leaderboard(results)  # once, for the report and leaderboard.csv
        report = build_report(
            results,
            records,
            title=title,
            n_boot=n_boot,
            seed=seed,
            shifts=functools.partial(split_shifts, folder),  # computed beside the findings
            board=board,
        )
    html_path = Path(out) if out is not None else folder / "report.html"
    markdown_path = html_path.with_suffix(".md")
    write_text_atomic(render_html(report), html_path)
    write_text_atomic(render_markdown(report), markdown_path)
    board_path = write_leaderboard(results, folder / "leaderboard.csv", board)
    findings_path = write_table_atomic(report.findings, folder / "findings.csv")
    return ReportFiles(html_path, markdown_path, board_path, findings_path)


def write_leaderboard(
    results: pd.DataFrame, path: str | Path, board: pd.DataFrame | None = None
) -> Path:
    """Write ``leaderboard.csv`` (one row per task × split category × model × metric; columns
    :data:`~vcbench.analysis.LEADERBOARD_COLUMNS`; empty cells where a value is undefined);
    ``board``: ``analysis.leaderboard(results)`` where the caller has it already."""
    from vcbench.analysis import leaderboard, leaderboard_csv

    if not len(results):
        return write_table_atomic(pd.DataFrame(), path)
    table = leaderboard_csv(leaderboard(results) if board is None else board)
    return write_table_atomic(table, path)


def write_tables(
    results_dir: str | Path, *, n_boot: int = 1000, seed: int = 0
) -> tuple[Path, Path]:
    """Write ``leaderboard.csv`` and ``findings.csv`` in ``results_dir`` (as :func:`write_report`
    does, without the pages), from its ``results.parquet``; returns their paths."""
    from vcbench.analysis import headline_metrics
    from vcbench.analysis.findings import split_shifts
    from vcbench.report.build import findings_of, metric_order

    folder = Path(results_dir)
    results, _ = load_results(folder)
    board = write_leaderboard(results, folder / "leaderboard.csv")
    headline = headline_metrics(metric_order(results["metric"])) if len(results) else []
    table, _ = findings_of(results, headline, split_shifts(folder), n_boot=n_boot, seed=seed)
    return board, write_table_atomic(table, folder / "findings.csv")
