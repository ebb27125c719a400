"""The optional compiled Sinkhorn kernel (``vcbench.metrics._sinkhorn``); the rest is pyproject.toml.

``optional=True``: where it cannot be compiled (no C compiler), the install goes on and
``vcbench.metrics.sinkhorn_kernel`` uses the numba kernel instead (docs/performance.md).
"""

import sys

from setuptools import Extension, setup

# reassociation (vectorised sums and maxima) without -ffast-math, which would also set the
# process's flush-to-zero mode where the library is linked with it
FLAGS = (
    ["/O2", "/fp:fast"]
    if sys.platform == "win32"
    else [
        "-O3",
        "-fno-math-errno",
        "-fno-trapping-math",
        "-ffinite-math-only",
        "-fno-signed-zeros",
        "-fassociative-math",
    ]
)

setup(
    ext_modules=[
        Extension(
            "vcbench.metrics._sinkhorn",
            ["src/vcbench/metrics/_sinkhorn.c"],
            extra_compile_args=FLAGS,
            optional=True,
        )
    ]
)
