"""Compact re-implementations of the seed paper's deep models (extra ``vcbench[torch]``).

Each model lives in a module of its own and follows ``vcbench.models.deep.common.DeepModel``; the
docstring of each module names its paper and lists every deviation from the original
(collected in docs/models.md). Importing this package needs torch.
"""
