"""Which metrics are calibrated on which task: ``vcbench.analysis.calibration.calibration_status``
(docs/validity.md), with every metric uncalibrated when the controls were not run."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vcbench.analysis.calibration import calibration_status as _status
from vcbench.analysis.common import NEGATIVE, POSITIVE, TASK

STATUS_KEYS = [*TASK, "split_category", "metric"]
STATUS_COLUMNS = [*STATUS_KEYS, "calibrated", "reason", "floor", "ceiling", "n_conditions"]


def calibration_status(results: pd.DataFrame) -> pd.DataFrame:
    """Per (task, split category, metric, including ``"all"``): ``calibrated``, ``reason``,
    ``floor``, ``ceiling``, ``n_conditions``. Without both controls in the results every metric
    is uncalibrated (reason says so)."""
    from vcbench.analysis.leaderboard import with_overall

    present = set(results["model"])
    if not {NEGATIVE, POSITIVE} <= present:
        table = with_overall(results)[STATUS_KEYS].drop_duplicates().reset_index(drop=True)
        missing = sorted({NEGATIVE, POSITIVE} - present)
        return table.assign(
            calibrated=False,
            reason=f"control(s) {', '.join(missing)} not run (`calibration: true` adds them)",
            floor=np.nan,
            ceiling=np.nan,
            n_conditions=0,
        )
    return _status(results)
