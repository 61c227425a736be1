"""Gate records: a regression policy, and the verdict of a run checked against it.

:mod:`assay.analysis` computes verdicts (counting every outcome, listing the first ``limit``);
the REST API serves them and the SDK client parses them back into the same classes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any, Literal, Protocol

from pydantic import ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from assay.domain.comparison import Comparison, Direction, PAdjust, _Model
from assay.errors import InvalidInput


class MarginRule(_Model):
    """``{margin: 0.02}``: in the metric's units (a fraction for pass rates)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    margin: float = Field(gt=0, description="Largest difference that does not matter.")


class ScorerRule(_Model):
    """Limits for one scorer's mean (the pass rate, for pass/fail scorers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: Direction = "higher"
    threshold: float | None = Field(
        default=None,
        description="The candidate's mean must be at least this (at most, when lower is better).",
    )
    max_drop: float | None = Field(
        default=None, ge=0, description="Overrides the policy's max_drop for this scorer."
    )
    non_inferiority: MarginRule | None = Field(
        default=None, description="Require non-inferiority to the baseline within a margin."
    )
    equivalence: MarginRule | None = Field(
        default=None, description="Require equivalence to the baseline within a margin."
    )
    min_judge_agreement: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="Overrides the policy's min_judge_agreement for this scorer.",
    )


class RegressionPolicy(_Model):
    """What a run must satisfy to pass the gate. Load one with :meth:`parse`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scorers: dict[str, ScorerRule] = Field(default_factory=dict)
    min_pass_rate: float | None = Field(default=None, ge=0, le=1)
    max_drop: float | None = Field(
        default=0.0,
        ge=0,
        description="Largest allowed fall of the pass rate and of scorer means versus the "
        "baseline, in the metric's own units (0.02 = two points of pass rate). "
        "None: no comparison with the baseline.",
    )
    block_inconclusive: bool = Field(
        default=False,
        description="Block a drop larger than allowed even when it is not significant.",
    )
    min_items: int = Field(default=1, ge=0)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    p_adjust: PAdjust = Field(
        default="holm",
        description="Adjust the p-values of the checked metrics for multiplicity: holm, bh "
        "(Benjamini-Hochberg) or none.",
    )
    non_inferiority: MarginRule | None = Field(
        default=None, description="Require the pass rate to be non-inferior within a margin."
    )
    min_judge_agreement: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="Refuse to rely on an evaluator scorer whose agreement with human scores "
        "(Cohen's kappa, or Spearman's rho for numeric scores) is below this.",
    )
    baseline: str | None = Field(
        default=None, description="Default baseline: a pinned run (id or name)."
    )
    baseline_tag: str | None = Field(
        default=None,
        description="Default baseline: the latest finished run on the dataset with this run tag.",
    )

    @classmethod
    def parse(cls, data: Mapping[str, Any] | str, *, source: str = "policy") -> RegressionPolicy:
        """A policy from a dict or from YAML/JSON text; errors name the field at fault."""
        if isinstance(data, str):
            import yaml  # only when a policy is read from text: keeps listings light

            try:
                data = yaml.safe_load(data) or {}
            except yaml.YAMLError as exc:
                raise InvalidInput(f"{source} is not valid YAML or JSON: {exc}") from None
        if not isinstance(data, Mapping):
            raise InvalidInput(f"{source} must be a mapping of settings")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(
                f"{source}: {where}: {first['msg']}", field=where, errors=len(exc.errors())
            ) from None


class GateCheck(_Model):
    name: str
    passed: bool
    observed: float | None = None
    limit: float | None = None
    message: str


class ItemOutcome(_Model):
    """One (item, repetition) of the candidate: one test case in the JUnit report."""

    item_id: str
    repetition: int
    status: str
    passed: bool
    error: str | None = None
    failing_scores: list[str] = Field(default_factory=list)
    latency_ms: float | None = None
    regressed: bool = Field(default=False, description="Passed in the baseline, fails now.")


class ItemRegression(_Model):
    """One item that passed in the baseline and fails now, listed once however many trials."""

    item_id: str
    regressed: int = Field(description="Trials that passed in the baseline and fail now.")
    trials: int = Field(description="Trials of the item compared with the baseline.")

    @property
    def detail(self) -> str:
        """``"2 of 3 trials"``; empty for an item run once."""
        return "" if self.trials <= 1 else f"{self.regressed} of {self.trials} trials"


class GateOutcomeSource(Protocol):
    """Where a verdict's outcomes come from in full: the analysis derives them from the runs'
    columns a chunk at a time (:class:`assay.analysis.gate_items.GateOutcomes`)."""

    def items(self, start: int = 0, stop: int | None = None) -> Iterator[ItemOutcome]: ...

    def trials(self) -> Iterator[list[ItemOutcome]]: ...

    def regressions(self, start: int = 0, stop: int | None = None) -> Iterator[ItemRegression]: ...


#: Outcomes and regressions a verdict lists unless asked otherwise (the rest are counted).
GATE_LIMIT = 1000

#: Which outcomes a listing holds: every one, or only those that did not pass.
OutcomeFilter = Literal["all", "failing"]


class GateVerdict(_Model):
    """Whether a run passes its regression policy, check by check.

    ``items`` and ``regressions`` list the first outcomes and regressions (1,000 by default);
    ``items_total``, ``items_failing`` and ``regressions_total`` count all of them. With
    ``items_only="failing"``, ``items`` lists only outcomes that did not pass. A verdict
    computed in this process yields every one from the runs' columns (:meth:`iter_items`,
    :meth:`iter_trials`, :meth:`iter_regressions`); over the API, follow
    ``items_next_cursor`` and ``regressions_next_cursor``."""

    passed: bool
    run_id: str
    run_name: str
    baseline_id: str | None
    baseline_name: str | None
    reasons: list[str] = Field(description="Why the gate failed; empty when it passed.")
    checks: list[GateCheck]
    means: dict[str, float | None] = Field(description="The candidate's mean per metric.")
    comparison: Comparison | None = Field(description="Against the baseline, statistics only.")
    items: list[ItemOutcome] = Field(
        description="Outcomes per (item, repetition) of the candidate, in run order: the first "
        "`limit` of `items_total` (of `items_failing` when `items_only` is `failing`)."
    )
    items_only: OutcomeFilter = Field(
        default="all",
        description="Which outcomes `items` lists: `all`, or only those that did not pass "
        "(`failing`).",
    )
    items_total: int = Field(
        default=0, description="Outcomes of the candidate, one per (item, repetition)."
    )
    items_failing: int = Field(default=0, description="Outcomes that did not pass.")
    items_next_cursor: str | None = Field(
        default=None,
        description="When `items` is not all of its listing: the `cursor` of "
        "`GET /experiments/{id}/gate/items/` (with the same `only`) for the next page.",
    )
    regressions: list[ItemRegression] = Field(
        default_factory=list,
        description="Items that passed in the baseline and fail now, once each (in run order), "
        "with how many of their compared trials regressed: the first `limit` of "
        "`regressions_total`.",
    )
    regressions_total: int = Field(default=0, description="Items that regressed.")
    regressions_next_cursor: str | None = Field(
        default=None,
        description="When `regressions` is not all of them: the `cursor` of "
        "`GET /experiments/{id}/gate/regressions/` for the next page.",
    )
    policy: RegressionPolicy
    target_cost: float | None = Field(
        default=None, description="What the candidate's target calls cost (USD)."
    )
    judge_cost: float | None = Field(
        default=None, description="What the candidate's LLM-judge calls cost (USD), apart."
    )
    _source: GateOutcomeSource | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _counted(cls, data: Any) -> Any:
        """A verdict from a server without the counts lists every outcome: count the lists."""
        if isinstance(data, Mapping) and "items_total" not in data:
            items = data.get("items") or []
            data = dict(data)
            data["items_total"] = len(items)
            data["items_failing"] = sum(1 for i in items if not _field(i, "passed"))
            data.setdefault("regressions_total", len(data.get("regressions") or []))
        return data

    def __eq__(self, other: object) -> bool:  # the outcome source is not part of the record
        if not isinstance(other, GateVerdict):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[Any, Any]:
        """Pickled as the record alone: the runs' columns stay in this process."""
        state = super().__getstate__()
        if state.get("__pydantic_private__"):
            state["__pydantic_private__"] = {**state["__pydantic_private__"], "_source": None}
        return state

    def with_outcomes(self, source: GateOutcomeSource) -> GateVerdict:
        """This verdict, yielding every outcome from ``source`` (see :meth:`iter_items`)."""
        self._source = source
        return self

    @property
    def source(self) -> GateOutcomeSource | None:
        """Where every outcome comes from (None: a verdict read back from JSON)."""
        return self._source

    @property
    def complete(self) -> bool:
        """Whether ``items`` and ``regressions`` list every outcome and regression."""
        return (
            len(self.items) == self.items_total and len(self.regressions) == self.regressions_total
        )

    def iter_items(self) -> Iterator[ItemOutcome]:
        """Every outcome in run order, made a chunk at a time from the runs' columns."""
        if self._source is not None:
            return self._source.items()
        self._every_item()
        return iter(self.items)

    def iter_trials(self) -> Iterator[list[ItemOutcome]]:
        """Each item's outcomes (its trials, in run order), items in order of first appearance:
        one JUnit test case each."""
        if self._source is not None:
            return self._source.trials()
        self._every_item()
        grouped: dict[str, list[ItemOutcome]] = {}
        for item in self.items:
            grouped.setdefault(item.item_id, []).append(item)
        return iter(grouped.values())

    def iter_regressions(self) -> Iterator[ItemRegression]:
        """Every regressed item, once, in run order."""
        if self._source is not None:
            return self._source.regressions()
        self._whole("regressions", len(self.regressions), self.regressions_total)
        return iter(self.regressions)

    def first_regressions(self, n: int) -> list[ItemRegression]:
        """The first ``n`` regressed items: from ``regressions``, else from the source when
        the list is shorter (a verdict asked to list fewer)."""
        if len(self.regressions) >= min(n, self.regressions_total) or self._source is None:
            return self.regressions[:n]
        return list(islice(self._source.regressions(), n))

    def _every_item(self) -> None:
        """Refuse to stand for every outcome when ``items`` lists only failing ones."""
        if self.items_only == "failing" and self.items_failing < self.items_total:
            raise InvalidInput(
                f"this verdict lists only failing outcomes ({len(self.items)} of "
                f"{self.items_failing}), not all {self.items_total}; page every one with "
                "GET /experiments/{id}/gate/items/",
                field="items",
            )
        self._whole("items", len(self.items), self.items_total)

    def _whole(self, what: str, listed: int, total: int) -> None:
        if listed < total:
            raise InvalidInput(
                f"this verdict lists {listed} of its {total} {what}; page the rest with "
                f"GET /experiments/{{id}}/gate/{what}/ (the verdict's {what}_next_cursor)",
                field=what,
            )


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)


__all__ = [
    "GATE_LIMIT",
    "GateCheck",
    "GateOutcomeSource",
    "GateVerdict",
    "ItemOutcome",
    "ItemRegression",
    "MarginRule",
    "OutcomeFilter",
    "RegressionPolicy",
    "ScorerRule",
]
