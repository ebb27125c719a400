"""Small torch helpers shared by the learned models (extra ``vcbench[torch]``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn


def dense_float32(x: Any) -> np.ndarray:
    """A dense float32 copy of a (possibly sparse) matrix."""
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Use ``n_threads`` CPU threads inside the block (``None``: leave torch's setting)."""
    if n_threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def mlp(
    n_in: int,
    n_hidden: int,
    n_out: int,
    n_layers: int,
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> nn.Sequential:
    """``n_layers`` hidden layers of ``n_hidden`` units (Linear, [BatchNorm], ReLU, [Dropout]),
    then a Linear to ``n_out``."""
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(n_layers):
        layers.append(nn.Linear(width, n_hidden))
        if batch_norm:
            layers.append(nn.BatchNorm1d(n_hidden))
        layers.append(nn.ReLU())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = n_hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)
