"""The default obs keys and labels shared by the Python API, the spec and every CLI command.

A bottom-layer module with no imports, so the command line can read the defaults without loading
the data layer.
"""

PERTURBATION_KEY = "condition"
"""obs column holding each cell's perturbation label."""

CONTEXT_KEY = "cell_type"
"""obs column holding each cell's context (cell line or type, donor); None (CLI: ``none``) means
one context."""

CONTROL = "control"
"""The label of control cells in the perturbation column."""

METRICS = "full"
"""The default metric profile (``paper``, ``fast`` or ``full``), or a list of metric names."""

GRAM = "float32"
"""The precision of the matrix products behind the expression-space distances (energy distance,
Sinkhorn, MMD): ``float32`` (both samples centred on the real one's mean; norms and sums in
float64) or ``float64`` (docs/performance.md gives the tolerance)."""
