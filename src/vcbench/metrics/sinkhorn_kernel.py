"""The Sinkhorn log-sum-exp kernel: compiled C where it was built, else numba.

``row_logsumexp(cost, inv_eps, h, out)`` sets ``out[i] = log Σ_j exp(h_j − cost_ij·inv_eps)``
(definition and precision: ``sinkhorn_numba``). Both implementations run the same algorithm and
release the GIL; they agree within their stated precision, not bit for bit (their float32
exponentials are rounded differently: at most 3.4e-8 apart on one log-sum-exp, measured). The C module (``_sinkhorn``, built by ``pip install`` where a C compiler is present)
loads no JIT compiler: numba and LLVM take ~100 MiB and ~0.7 s of CPU per process
(docs/performance.md). ``KERNEL`` names the one in use; ``VCBENCH_SINKHORN_KERNEL=numba`` forces
the fallback.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

RowLogSumExp = Callable[[np.ndarray, float, np.ndarray, np.ndarray], None]


def _choose() -> tuple[str, RowLogSumExp]:
    if os.environ.get("VCBENCH_SINKHORN_KERNEL", "").lower() != "numba":
        try:
            from vcbench.metrics._sinkhorn import row_logsumexp as compiled
        except ImportError:  # not built (no C compiler at install time)
            pass
        else:
            return "c", compiled
    from vcbench.metrics.sinkhorn_numba import row_logsumexp as jitted

    return "numba", jitted


KERNEL, row_logsumexp = _choose()
