"""Reports: terminal tables, and the HTML/Markdown benchmark report built from tidy results."""

from vcbench.report.build import Block, Report, Section, build_report
from vcbench.report.console import leaderboard_tables, summary_table, summary_tables
from vcbench.report.render import (
    ReportFiles,
    load_results,
    render_html,
    render_markdown,
    write_report,
)

__all__ = [
    "Block",
    "Report",
    "ReportFiles",
    "Section",
    "build_report",
    "leaderboard_tables",
    "load_results",
    "render_html",
    "render_markdown",
    "summary_table",
    "summary_tables",
    "write_report",
]
