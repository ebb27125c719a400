"""Which metrics are calibrated on which task: the soundness issue's
``vcbench.analysis.calibration.calibration_status`` when it is present, else a stand-in.

MERGE NOTE (issue #15 → #17): once ``calibration_status`` exists in
``vcbench/analysis/calibration.py``, delete ``_calibration_status_fallback`` and the ``try`` below
and import it directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vcbench.analysis.common import NEGATIVE, POSITIVE, TASK, orientation
from vcbench.analysis.ranking import condition_values, interval

STATUS_KEYS = [*TASK, "split_category", "metric"]
STATUS_COLUMNS = [*STATUS_KEYS, "calibrated", "reason", "floor", "ceiling", "n_conditions"]


def _calibration_status_fallback(results: pd.DataFrame) -> pd.DataFrame:
    """STAND-IN until #15 merges. Per (task, split category, metric): ``floor`` and ``ceiling``
    are the means over conditions (seeds aggregated first) of ``perturbed_mean`` and of
    ``technical_replicate``, on the conditions where both are defined; ``calibrated`` when the
    ceiling beats the floor beyond noise: the lower end of the Student-t 95 % interval of the
    paired, oriented differences (ceiling − floor) over those conditions is above 0 (so at least
    2 conditions). ``results`` must already hold the pooled split category ``"all"``."""
    frame = results[results["model"].isin([NEGATIVE, POSITIVE])]
    values = condition_values(frame, [*STATUS_KEYS, "model"])
    wide = values.pivot_table(
        index=[*STATUS_KEYS, "context", "perturbation"],
        columns="model",
        values="value",
        observed=True,
        dropna=False,
    ).reindex(columns=[NEGATIVE, POSITIVE])
    wide = wide.dropna().reset_index()
    wide["value"] = (wide[POSITIVE] - wide[NEGATIVE]) * orientation(wide["metric"])
    gap = interval(wide, STATUS_KEYS)[[*STATUS_KEYS, "ci_low", "n"]]
    means = wide.groupby(STATUS_KEYS, observed=True)[[NEGATIVE, POSITIVE]].mean().reset_index()
    table = means.rename(columns={NEGATIVE: "floor", POSITIVE: "ceiling"}).merge(
        gap, on=STATUS_KEYS
    )
    everything = results[STATUS_KEYS].drop_duplicates()
    table = everything.merge(table, on=STATUS_KEYS, how="left")
    table["n_conditions"] = table.pop("n").fillna(0).astype(int)
    table["calibrated"] = (table["ci_low"] > 0).to_numpy()
    table["reason"] = np.select(
        [
            table["n_conditions"] == 0,
            table["n_conditions"] == 1,
            (table["ceiling"] - table["floor"]) * orientation(table["metric"]) <= 0,
            ~table["calibrated"],
        ],
        [
            f"no condition where both {NEGATIVE} and {POSITIVE} are defined",
            "one condition: no interval to tell the controls apart",
            f"{POSITIVE} does not beat {NEGATIVE}",
            f"{POSITIVE} beats {NEGATIVE} only within noise (95 % CI of the paired gap reaches 0)",
        ],
        default="",
    )
    return table[STATUS_COLUMNS]


try:  # pragma: no cover - depends on whether #15 has merged
    from vcbench.analysis.calibration import calibration_status as _status  # type: ignore[attr-defined]
except ImportError:
    _status = None


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
    if _status is not None:
        table = _status(results)
        if "all" not in set(table["split_category"]):
            table = _status(with_overall(results))
        return table
    return _calibration_status_fallback(with_overall(results))
