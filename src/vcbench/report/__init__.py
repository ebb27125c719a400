"""Reports: tables and figures built from tidy results."""

from vcbench.report.console import summary_table, summary_tables

__all__ = ["summary_table", "summary_tables"]
