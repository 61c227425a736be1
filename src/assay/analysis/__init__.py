"""Analysis: paired statistics, run comparison aligned by item, trends, regression gates.

Everything here is pure: inputs are in-memory runs (:class:`RunFrame`), outputs are pydantic
models that the API, CLI and dashboard render.
"""

from assay.analysis.compare import compare_runs
from assay.analysis.frame import RunFrame, ScoreColumn
from assay.analysis.gate import (
    GateCheck,
    GateVerdict,
    ItemOutcome,
    RegressionPolicy,
    ScorerRule,
    evaluate_gate,
)
from assay.analysis.items import filter_items, item_rows
from assay.analysis.models import (
    PASS_METRIC,
    Cell,
    CompareWarning,
    Comparison,
    Contrast,
    DiffOp,
    Distribution,
    ItemReliability,
    ItemRow,
    MetricComparison,
    RunInfo,
    UsageComparison,
)
from assay.analysis.report import render_comparison_markdown, render_junit, render_markdown
from assay.analysis.stats import (
    Direction,
    Interval,
    Significance,
    Verdict,
    bootstrap_ci,
    cluster_differences,
    mcnemar_exact,
    permutation_test,
    verdict,
    wilcoxon_test,
)
from assay.analysis.textdiff import word_diff
from assay.analysis.trend import RunFigures, trend

__all__ = [
    "PASS_METRIC",
    "Cell",
    "CompareWarning",
    "Comparison",
    "Contrast",
    "DiffOp",
    "Direction",
    "Distribution",
    "GateCheck",
    "GateVerdict",
    "Interval",
    "ItemOutcome",
    "ItemReliability",
    "ItemRow",
    "MetricComparison",
    "RegressionPolicy",
    "RunFigures",
    "RunFrame",
    "RunInfo",
    "ScoreColumn",
    "ScorerRule",
    "Significance",
    "UsageComparison",
    "Verdict",
    "bootstrap_ci",
    "cluster_differences",
    "compare_runs",
    "evaluate_gate",
    "filter_items",
    "item_rows",
    "mcnemar_exact",
    "permutation_test",
    "render_comparison_markdown",
    "render_junit",
    "render_markdown",
    "trend",
    "verdict",
    "wilcoxon_test",
    "word_diff",
]
