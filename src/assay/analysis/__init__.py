"""Analysis: paired statistics, run comparison aligned by item, regression gates.

The core is pure: inputs are in-memory runs (:class:`RunFrame`), outputs are the comparison
and gate records of :mod:`assay.domain.comparison`, which the API, SDK, CLI and dashboard
render. :mod:`assay.analysis.service` loads stored experiments into frames and resolves
baselines and stored policies. Trends and other analytics over stored runs are computed in
SQL by ``Store.analytics``.
"""

from assay.analysis.compare import compare_runs
from assay.analysis.frame import RunFrame, ScoreColumn
from assay.analysis.gate import evaluate_gate
from assay.analysis.gate_items import GateOutcomes
from assay.analysis.items import filter_items, item_rows
from assay.analysis.report import (
    render_comparison_markdown,
    render_junit,
    render_markdown,
    write_junit,
)
from assay.analysis.service import (
    clear_dataset_policy,
    compare_experiments,
    dataset_policy,
    gate_experiment,
    item_inputs,
    load_run,
    resolve_baseline,
    set_dataset_policy,
    store_frame,
)
from assay.analysis.stats import (
    Interval,
    Significance,
    bootstrap_ci,
    cluster_differences,
    mcnemar_exact,
    permutation_test,
    verdict,
    wilcoxon_test,
)
from assay.analysis.textdiff import word_diff

__all__ = [
    "GateOutcomes",
    "Interval",
    "RunFrame",
    "ScoreColumn",
    "Significance",
    "bootstrap_ci",
    "clear_dataset_policy",
    "cluster_differences",
    "compare_experiments",
    "compare_runs",
    "dataset_policy",
    "evaluate_gate",
    "filter_items",
    "gate_experiment",
    "item_inputs",
    "item_rows",
    "load_run",
    "mcnemar_exact",
    "permutation_test",
    "render_comparison_markdown",
    "render_junit",
    "render_markdown",
    "resolve_baseline",
    "set_dataset_policy",
    "store_frame",
    "verdict",
    "wilcoxon_test",
    "word_diff",
    "write_junit",
]
