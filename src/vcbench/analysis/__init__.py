"""Analysis: pure functions over tidy result tables (definitions: docs/report.md)."""

from vcbench.analysis.agreement import (
    metric_correlation,
    model_means,
    model_ranks,
    ranking_agreement,
    tau_matrix,
)
from vcbench.analysis.calibration import CalibrationError, calibrated_scores, discriminative
from vcbench.analysis.common import (
    NEGATIVE,
    POSITIVE,
    SIMPLE_BASELINES,
    AnalysisError,
    NotAvailable,
    higher_is_better,
)
from vcbench.analysis.cost import compute_cost
from vcbench.analysis.guide import selection_guide
from vcbench.analysis.leaderboard import leaderboard
from vcbench.analysis.paired import paired_comparison, rank_biserial
from vcbench.analysis.summary import summarise
from vcbench.analysis.variants import STANDARD_STRICT, merge_effects, strict_drop, variant_means

__all__ = [
    "NEGATIVE",
    "POSITIVE",
    "SIMPLE_BASELINES",
    "STANDARD_STRICT",
    "AnalysisError",
    "CalibrationError",
    "NotAvailable",
    "calibrated_scores",
    "compute_cost",
    "discriminative",
    "higher_is_better",
    "leaderboard",
    "merge_effects",
    "metric_correlation",
    "model_means",
    "model_ranks",
    "paired_comparison",
    "rank_biserial",
    "ranking_agreement",
    "selection_guide",
    "strict_drop",
    "summarise",
    "tau_matrix",
    "variant_means",
]
