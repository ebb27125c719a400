"""The built-in demo benchmark that ``vcbench run`` runs without a spec, on the bundled demo data."""

from __future__ import annotations

from vcbench.runner.spec import BenchmarkSpec, parse_spec

DEMO_SPEC = """\
output: results
metrics: full
executor: serial
datasets:
  - name: demo
    source: demo
scenarios:
  - name: perturbation       # held-out singles and combinations of the K562 cells (GEARS categories)
    variant: combo
    options: {context: k562}
    seeds: [0, 1, 2]
models:
  - name: no_change
  - name: perturbed_mean
"""


def demo_spec() -> BenchmarkSpec:
    """The demo spec (see ``DEMO_SPEC``)."""
    return parse_spec(DEMO_SPEC, "the built-in demo spec")
