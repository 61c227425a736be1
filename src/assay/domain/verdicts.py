"""Records for deciding across runs: the cost/quality frontier and judge-human agreement.

:mod:`assay.analysis` computes them; the API serves them, the CLI and dashboard render them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from assay.domain.comparison import _Model

AgreementStatistic = Literal["cohen_kappa", "spearman"]


class FrontierPoint(_Model):
    """One run on a dataset: its quality with an interval, and what an item cost."""

    run_id: str
    name: str
    created_at: datetime
    items: int = Field(description="Items with a finished result.")
    quality: float | None = Field(description="Mean of the metric over items (pass rate).")
    ci_low: float | None
    ci_high: float | None
    cost_per_item: float | None = Field(description="Target plus judge cost per item, USD.")
    on_front: bool = Field(description="No cheaper run reaches this quality.")
    dominated_by: str | None = Field(
        default=None, description="A run at most as costly with at least this quality."
    )


class Frontier(_Model):
    """Runs of a dataset by cost and quality; the Pareto front is the cheapest run at each
    quality level (a run is on it when every cheaper run has a lower quality)."""

    dataset: str
    metric: str
    confidence: float
    points: list[FrontierPoint] = Field(description="Cheapest first; runs without cost last.")


class Agreement(_Model):
    """How an evaluator version's scores agree with human scores on the same results."""

    evaluator: str
    version: int | None
    score: str = Field(description="Score name.")
    kind: Literal["categorical", "numeric"]
    n: int = Field(description="Results scored by both the evaluator and a human.")
    cohen_kappa: float | None = Field(default=None, description="Categorical or pass/fail.")
    observed_agreement: float | None = Field(default=None, description="Share of equal labels.")
    pearson: float | None = Field(default=None, description="Numeric scores.")
    spearman: float | None = Field(default=None, description="Numeric scores.")

    @property
    def statistic(self) -> tuple[AgreementStatistic, float | None]:
        """The figure a policy's ``min_judge_agreement`` is compared with."""
        if self.kind == "categorical":
            return "cohen_kappa", self.cohen_kappa
        return "spearman", self.spearman
