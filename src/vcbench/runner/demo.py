"""The built-in demo benchmark that ``vcbench run`` runs without a spec, on the bundled demo data."""

from __future__ import annotations

from vcbench.runner.spec import BenchmarkSpec, parse_spec

DEMO_SPEC = """\
output: results
metrics: full
executor: processes           # one task per core at a time (jobs: the cores, vcbench.threads)
datasets:
  - name: demo               # bundled: Norman 2019 K562 CRISPRa + McFaline-Figueroa 2023 glioma CRISPRi
    source: demo
scenarios:
  - name: perturbation       # held-out singles and combinations of the K562 cells (GEARS categories)
    variant: combo
    options: {context: k562}
    seeds: [0, 1, 2]
  - name: perturbation       # held-out single perturbations, one of 5 folds within each cell line
    variant: single
    options: {n_folds: 5, fold: 0}
    seeds: [0, 1, 2]
  - name: context            # an unseen glioma cell line (standard: chosen at random)
    variant: random
    options: {contexts: [A172, T98G, U87MG]}
    seeds: [0, 1, 2]
  - name: context            # an unseen glioma cell line (strict: whole clusters of similar lines)
    variant: strict
    options: {contexts: [A172, T98G, U87MG]}
    seeds: [0, 1, 2]
models:                      # the core baselines (perturbed_mean is also the negative control)
  - name: no_change
  - name: perturbed_mean
  - name: perturbation_mean
  - name: additive
  - name: linear
  - name: random_perturbation
"""


def demo_spec() -> BenchmarkSpec:
    """The demo spec (see ``DEMO_SPEC``)."""
    return parse_spec(DEMO_SPEC, "the built-in demo spec")
