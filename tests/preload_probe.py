"""A module whose import takes a while and logs when it ran (tests/test_preload.py)."""

from __future__ import annotations

import os
import time

_start = time.time()
time.sleep(0.5)
with open(os.environ["VCBENCH_PROBE_LOG"], "a") as log:
    log.write(f"{os.getpid()} {_start} {time.time()}\n")
