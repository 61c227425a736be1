"""Records for planning the next run of a dataset: what it can detect, what it costs, how
long it takes, and which items carry the signal.

:mod:`assay.analysis` computes them from a dataset's run history; the API serves them, the
SDK parses them back, the CLI and the dashboard render them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from assay.domain.comparison import MetricKind, Verdict, _Model

VarianceSource = Literal["run_pairs", "single_run", "pilot"]


class MetricPlan(_Model):
    """What a paired comparison of one metric can detect with the planned run."""

    metric: str
    kind: MetricKind
    tau2: float = Field(
        description="Between-item variance of the paired difference between two systems."
    )
    within: float = Field(description="Within-item variance of one trial's outcome.")
    variance: float = Field(description="Var(d) = tau2 + 2 within / trials.")
    source: VarianceSource = Field(
        description="run_pairs: estimated from consecutive runs with different configurations; "
        "single_run / pilot: from one run, assuming the two systems are uncorrelated."
    )
    pairs: int = Field(description="Pairs of runs the between-item variance came from.")
    detectable: float = Field(
        description="Minimum detectable difference (metric units; a share for pass rates)."
    )
    items_needed: int | None = Field(
        default=None, description="Items needed (at the planned trials) for `difference`."
    )
    trials_needed: int | None = Field(
        default=None,
        description="Trials needed (at the planned items) for `difference`; None when no "
        "number of trials suffices (add items instead).",
    )
    power: float | None = Field(
        default=None, description="Power of the planned run against `difference`."
    )


class CostEstimate(_Model):
    """What the planned run should cost: target calls plus judge calls."""

    basis: Literal["price_table", "observed"] = Field(
        description="price_table: tokens per call from history times the model's price; "
        "observed: the cost per call the history recorded."
    )
    model: str | None = Field(description="provider:model priced, when a price table was used.")
    tokens_in_per_call: float | None
    tokens_out_per_call: float | None
    target_cost: float | None = Field(description="USD for every target call.")
    judge_cost: float = Field(description="USD for every judge call (LLM-judge scorers).")
    total_cost: float | None
    per_item: float | None = Field(description="Target plus judge cost of one item (all trials).")


class TimeEstimate(_Model):
    """How long the planned run should take at the chosen concurrency."""

    concurrency: int
    target_ms_per_call: float | None = Field(description="Mean latency of a target call.")
    judge_ms_per_call: float = Field(description="Judge time after each target call.")
    seconds: float | None = Field(description="calls x (target + judge time) / concurrency.")


class RunPlan(_Model):
    """The next run of a dataset: N items x k trials, what it detects, costs and takes."""

    dataset: str
    items: int
    trials: int
    alpha: float
    power: float
    difference: float | None = Field(
        description="The difference to detect, as given (points for pass rates)."
    )
    runs: list[str] = Field(description="Runs the estimates came from, newest first.")
    pilot: str | None = None
    metrics: list[MetricPlan]
    cost: CostEstimate
    time: TimeEstimate
    notes: list[str] = Field(default_factory=list)


class ItemSignal(_Model):
    """One item over a dataset's history: does it separate the runs, does it repeat another?"""

    item_id: str
    runs: int = Field(description="Runs (one per distinct configuration) that scored the item.")
    pass_rate: float | None = Field(
        description="Mean of the metric over those runs (a share for pass rates)."
    )
    discriminating: bool = Field(
        description="Its outcome differs between some of those runs (False when it always "
        "passes, always fails, or was seen in fewer than two runs)."
    )
    changes: int = Field(
        default=0, description="Consecutive pairs of runs between which its outcome changed."
    )
    duplicate_of: str | None = Field(
        default=None, description="An earlier item whose input is a near-duplicate."
    )
    similarity: float | None = None
    in_subset: bool = Field(default=True, description="Kept by the suggested subset.")


class PairVerdict(_Model):
    """The verdict of one consecutive pair of runs on every item, and on the subset."""

    baseline: str
    run: str
    full: Verdict
    subset: Verdict
    n_full: int = Field(description="Items the full comparison paired.")
    n_subset: int = Field(description="Items the subset's comparison paired.")


class ItemsSignal(_Model):
    """Which items of a dataset carry the signal, and a smaller subset for fast checks."""

    dataset: str
    dataset_version: int
    metric: str
    runs: list[str] = Field(description="One run per distinct configuration, newest first.")
    items_total: int = Field(description="Live items of the dataset's current version.")
    items_seen: int = Field(description="Items scored by at least one of the runs.")
    items: list[ItemSignal]
    never_discriminating: int = Field(
        description="Items seen in two or more runs with the same outcome in all of them."
    )
    duplicates: int = Field(description="Items whose input is a near-duplicate of an earlier one.")
    similarity_method: Literal["embeddings", "token_jaccard"]
    threshold: float
    subset: list[str] = Field(description="Item ids of the suggested subset (dataset order).")
    subset_size: int
    pairs: list[PairVerdict] = Field(
        description="Consecutive pairs of runs, oldest first, with both verdicts."
    )
    verdict_agreement: float | None = Field(
        description="Share of the pairs whose verdict is the same on the subset (None: no pair)."
    )
    verdicts_kept: bool = Field(
        description="Every pairwise verdict of the runs is the same on the subset."
    )
    verdicts_checked: int = Field(description="Pairs of runs whose verdicts were compared.")
    tag: str | None = Field(
        default=None, description="The tag the subset's items were given, when asked."
    )
    notes: list[str] = Field(default_factory=list)
