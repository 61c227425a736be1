"""Online evaluation: rules that score production traces as they arrive, and their scores
over time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from assay.domain.common import Input, Record

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
MetadataValue = str | int | float | bool | None


class TraceFilter(Input):
    """Which traces a rule looks at; every condition given must hold."""

    name: str | None = Field(
        default=None,
        max_length=300,
        description="Trace name, exactly or as a glob (*, ?, [abc]), e.g. chat-*.",
    )
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50, description="Tags the trace must all carry."
    )
    metadata: dict[str, MetadataValue] = Field(
        default_factory=dict, description="Metadata keys that must hold exactly these values."
    )
    model: str | None = Field(
        default=None, max_length=200, description="Some generation of the trace used this model."
    )
    has_error: bool | None = Field(
        default=None,
        description="true: only traces with an observation at level ERROR; false: only "
        "traces without; null: both.",
    )


class OnlineEvaluatorRef(Input):
    """A saved evaluator a rule applies, and where its sample's fields come from."""

    evaluator: Name = Field(description="Saved evaluator name (or id).")
    version: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="Pin this version; default: the latest."
    )
    mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Sample field → path in the trace, e.g. "
        '{"output": "trace.generation.output", "expected_output": "metadata.expected"}. '
        "Default: the trace's input, output and metadata.",
    )


class OnlineRule(Record):
    id: str
    project_id: str
    name: str
    enabled: bool
    filter: TraceFilter
    sample_rate: float
    evaluators: list[OnlineEvaluatorRef]
    created_at: datetime
    updated_at: datetime


class OnlineRuleCreate(Input):
    """A new rule: which traces, how many of them, and which saved evaluators score them."""

    name: Name
    enabled: bool = True
    filter: TraceFilter = Field(default_factory=TraceFilter)
    sample_rate: float = Field(
        default=1.0,
        description="Share of matching traces scored, 0 to 1; the choice is a hash of the "
        "trace id, so it is the same every time.",
    )
    evaluators: list[OnlineEvaluatorRef] = Field(max_length=20)


class OnlineRuleUpdate(Input):
    """Fields to change; those left out keep their values."""

    name: Name | None = None
    enabled: bool | None = None
    filter: TraceFilter | None = None
    sample_rate: float | None = None
    evaluators: list[OnlineEvaluatorRef] | None = Field(default=None, max_length=20)


class OnlinePoint(Record):
    """One score name's online scores in one time bucket."""

    start: datetime
    count: int
    mean: float | None = Field(description="Mean of the numeric values (booleans count 1/0).")
    passed: int
    failed: int
    pass_rate: float | None
    errors: int = Field(description="Scores the scorer could not compute.")


class OnlineSeries(Record):
    name: str
    points: list[OnlinePoint]


class JudgeCostPoint(Record):
    """What the scorers (LLM judges) of the online scores in one bucket cost."""

    start: datetime
    scores: int
    cost: float
    tokens_in: int
    tokens_out: int


class OnlineScores(Record):
    """Online scores of a project (or one rule) per time bucket, oldest first."""

    rule_id: str | None
    bucket_s: int
    since: datetime
    series: list[OnlineSeries]
    judge_cost: list[JudgeCostPoint]


class OnlineRunReport(Record):
    """What one pass of the online evaluator did."""

    traces: int = 0
    matched: int = 0
    scores: int = 0
    errors: int = 0
    skipped: int = Field(default=0, description="Already scored by this rule and evaluator.")
