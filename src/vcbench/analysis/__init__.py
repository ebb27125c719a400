"""Analysis: pure functions over tidy result tables (definitions: docs/report.md)."""

from vcbench.analysis.agreement import (
    kendall_tau_b,
    metric_correlation,
    model_means,
    model_ranks,
    ranking_agreement,
    supported_tasks,
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
    role,
)
from vcbench.analysis.cost import compute_cost
from vcbench.analysis.findings import analyse as findings
from vcbench.analysis.guide import selection_guide
from vcbench.analysis.leaderboard import (
    LEADERBOARD_COLUMNS,
    headline_ranking,
    leaderboard,
    leaderboard_csv,
)
from vcbench.analysis.paired import paired_comparison, rank_biserial
from vcbench.analysis.ranking import fill_undefined, headline_metrics, worst_bound
from vcbench.analysis.status import calibration_status
from vcbench.analysis.summary import summarise
from vcbench.analysis.variants import STANDARD_STRICT, merge_effects, strict_drop, variant_means

__all__ = [
    "LEADERBOARD_COLUMNS",
    "NEGATIVE",
    "POSITIVE",
    "SIMPLE_BASELINES",
    "STANDARD_STRICT",
    "AnalysisError",
    "CalibrationError",
    "NotAvailable",
    "calibrated_scores",
    "calibration_status",
    "compute_cost",
    "discriminative",
    "fill_undefined",
    "findings",
    "headline_metrics",
    "headline_ranking",
    "higher_is_better",
    "kendall_tau_b",
    "leaderboard",
    "leaderboard_csv",
    "merge_effects",
    "metric_correlation",
    "model_means",
    "model_ranks",
    "paired_comparison",
    "rank_biserial",
    "ranking_agreement",
    "role",
    "selection_guide",
    "strict_drop",
    "summarise",
    "supported_tasks",
    "tau_matrix",
    "variant_means",
    "worst_bound",
]
