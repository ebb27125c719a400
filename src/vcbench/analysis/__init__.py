"""Analysis: pure functions over tidy result tables."""

from vcbench.analysis.summary import summarise

__all__ = ["summarise"]
