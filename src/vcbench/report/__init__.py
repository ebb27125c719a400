"""Reports: tables and figures built from tidy results."""

from vcbench.report.console import summary_table

__all__ = ["summary_table"]
