"""glibc allocator settings for a process that scores (``vcbench evaluate``).

Scoring allocates and frees the same MB-sized temporaries thousands of times (each condition's
dense cells, its distance matrices). By default glibc hands each back to the kernel (``mmap``
above a dynamic threshold, or trimming the heap's top beyond 128 KiB) and the next one is served
with fresh, zeroed pages: on the 29k benchmark case about half of the process's system time
(docs/performance.md). ``keep_freed_memory()`` makes glibc keep freed memory for reuse instead:
blocks up to ``MMAP_THRESHOLD`` come from the heap, which is trimmed only beyond
``TRIM_THRESHOLD``, in one arena, so that the condition pool's threads share what is kept rather
than each keeping its own. The scores are the same bits; only where the memory comes from
changes.

It applies to glibc only, leaves alone every setting the environment already makes
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_ARENA_MAX``), and is for a fresh
process the command line owns: once numpy is loaded (threads may have started; the command run
in-process, as in tests) it does nothing. The library itself (``vcbench.evaluate``) never changes
process-wide settings.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20
ARENA_MAX = 1
# mallopt parameters (malloc.h): M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX
_SETTINGS = (
    (-1, "MALLOC_TRIM_THRESHOLD_", TRIM_THRESHOLD),
    (-3, "MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD),
    (-8, "MALLOC_ARENA_MAX", ARENA_MAX),
)


def keep_freed_memory() -> list[str]:
    """Apply the settings above where glibc is the allocator; the names of those applied."""
    if "numpy" in sys.modules or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return []
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a glibc without mallopt
        return []
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return [
        variable
        for parameter, variable, value in _SETTINGS
        if variable not in os.environ and mallopt(parameter, value) == 1
    ]
