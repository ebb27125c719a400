"""Preprocessing of standardised datasets: HVG selection, gene harmonisation, count scaling.

Every function takes AnnData objects in the standard form (see ``vcbench.data.contract``) and never
changes its input: ``select_hvgs`` returns gene names, the others return new AnnData objects. Each
lives in its own module (``hvg``, ``harmonize``, ``count_scaling``), whose docstring states its
definitions.
"""

from vcbench.data.count_scaling import scale_counts
from vcbench.data.harmonize import harmonize_genes
from vcbench.data.hvg import select_hvgs

__all__ = ["harmonize_genes", "scale_counts", "select_hvgs"]
