"""Pairwise judging: which of two experiments answered each item better.

Results are matched by (dataset item, repetition). The judge sees each pair twice, once as
(A = run A, B = run B) and once swapped, so a judge that prefers a position cancels out: each
ask gives a point to the run it prefers, and the run with more points wins the item (equal
points, including one vote each way, is a tie).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from assay.engine.provider_judge import ProviderJudge
from assay.errors import InvalidInput
from assay.scoring import Sample
from assay.scoring.llm_judge import (
    PAIRWISE_CHOICES,
    JudgeModel,
    JudgeReply,
    pairwise_messages,
    parse_verdict,
)
from assay.store import Store, StoredResult
from assay.sync import run_sync

Side = Literal["a", "b", "tie"]


class PairwiseItem(BaseModel):
    """The verdict on one item: the two asks (mapped to runs), the winner and the reasons."""

    item_id: str | None
    repetition: int
    input: Any
    output_a: Any
    output_b: Any
    winner: Side | None = Field(description="None when the judge could not decide (error).")
    verdicts: list[Side] = Field(
        default_factory=list, description="The run each ask preferred: A first, then swapped."
    )
    consistent: bool | None = Field(
        default=None, description="Both asks agreed (no position effect)."
    )
    reasons: list[str] = Field(default_factory=list)
    error: str | None = None


class PairwiseReport(BaseModel):
    """Per-item verdicts and totals of a pairwise comparison of two experiments."""

    run_a: str
    run_b: str
    judge: str
    items: list[PairwiseItem]
    wins_a: int
    wins_b: int
    ties: int
    errors: int
    inconsistent: int = Field(description="Items where swapping the positions changed the vote.")
    unmatched: int = Field(description="Completed results without a partner in the other run.")
    win_rate_a: float | None = Field(description="(wins of A + half the ties) / judged items.")
    win_rate_b: float | None
    cost: float
    tokens_in: int
    tokens_out: int


def _judge_model(judge: JudgeModel | Mapping[str, Any]) -> JudgeModel:
    if isinstance(judge, Mapping):
        params = dict(judge)
        if "model" not in params:
            raise InvalidInput("the pairwise judge needs a model", field="judge.model")
        try:
            return ProviderJudge(**params)
        except InvalidInput as exc:  # the judge's own fields are this call's ``judge.*``
            field = str(exc.field or "judge").replace("params.", "judge.", 1)
            raise InvalidInput(exc.message.replace("params.", "judge.", 1), field=field) from None
    if not callable(getattr(judge, "complete", None)):
        raise InvalidInput(
            "judge: a judge model or {model, provider, base_url, ...}", field="judge"
        )
    return judge


def _side(verdict: str, swapped: bool) -> Side:
    if verdict == "tie":
        return "tie"
    first = verdict == "A"
    return "b" if first == swapped else "a"


def combine(verdicts: list[Side]) -> Side:
    """The winner of an item from its votes: more points wins, equal points is a tie."""
    a, b = verdicts.count("a"), verdicts.count("b")
    return "a" if a > b else "b" if b > a else "tie"


async def _judge_item(
    model: JudgeModel,
    a: StoredResult,
    b: StoredResult,
    criteria: str | None,
    usage: list[JudgeReply],
) -> PairwiseItem:
    sample = Sample(input=a.input, output=None, expected_output=a.expected_output)
    asks = [
        pairwise_messages(sample, a.output, b.output, criteria=criteria),
        pairwise_messages(sample, b.output, a.output, criteria=criteria),
    ]
    item = PairwiseItem(
        item_id=a.item_id,
        repetition=a.repetition,
        input=a.input,
        output_a=a.output,
        output_b=b.output,
        winner=None,
    )
    replies = await asyncio.gather(*(model.complete(m) for m in asks), return_exceptions=True)
    for swapped, reply in zip((False, True), replies, strict=True):
        if isinstance(reply, BaseException):
            if not isinstance(reply, Exception):
                raise reply
            item.error = item.error or (str(reply) or type(reply).__name__)
            continue
        usage.append(reply)
        try:
            choice, reason = parse_verdict(reply.text, PAIRWISE_CHOICES)
        except ValueError as exc:
            item.error = item.error or str(exc)
            continue
        item.verdicts.append(_side(choice, swapped))
        if reason:
            item.reasons.append(reason)
    if item.error is None:
        item.winner = combine(item.verdicts)
        item.consistent = item.verdicts[0] == item.verdicts[1]
    return item


async def pairwise_judge_async(
    store: Store,
    run_a: str,
    run_b: str,
    *,
    judge: JudgeModel | Mapping[str, Any],
    criteria: str | None = None,
    concurrency: int = 8,
) -> PairwiseReport:
    """Compare two experiments' outputs item by item with a judge, positions swapped."""
    if concurrency < 1:
        raise InvalidInput("concurrency must be at least 1", field="concurrency")
    model = _judge_model(judge)
    a_id, b_id = store.experiments.get(run_a).id, store.experiments.get(run_b).id
    if a_id == b_id:
        raise InvalidInput("compare two different experiments", field="run_b")
    left = await asyncio.to_thread(lambda: list(store.scores.completed_results(a_id)))
    right = {
        (r.item_id, r.repetition): r
        for r in await asyncio.to_thread(lambda: list(store.scores.completed_results(b_id)))
    }
    pairs = [
        (r, right[(r.item_id, r.repetition)]) for r in left if (r.item_id, r.repetition) in right
    ]
    unmatched = len(left) + len(right) - 2 * len(pairs)
    gate = asyncio.Semaphore(concurrency)
    usage: list[JudgeReply] = []

    async def one(a: StoredResult, b: StoredResult) -> PairwiseItem:
        async with gate:
            return await _judge_item(model, a, b, criteria, usage)

    items = list(await asyncio.gather(*(one(a, b) for a, b in pairs)))
    wins_a = sum(1 for i in items if i.winner == "a")
    wins_b = sum(1 for i in items if i.winner == "b")
    ties = sum(1 for i in items if i.winner == "tie")
    judged = wins_a + wins_b + ties
    return PairwiseReport(
        run_a=a_id,
        run_b=b_id,
        judge=model.label,
        items=items,
        wins_a=wins_a,
        wins_b=wins_b,
        ties=ties,
        errors=len(items) - judged,
        inconsistent=sum(1 for i in items if i.consistent is False),
        unmatched=unmatched,
        win_rate_a=(wins_a + ties / 2) / judged if judged else None,
        win_rate_b=(wins_b + ties / 2) / judged if judged else None,
        cost=sum(u.cost or 0.0 for u in usage),
        tokens_in=sum(u.tokens_in or 0 for u in usage),
        tokens_out=sum(u.tokens_out or 0 for u in usage),
    )


def pairwise_judge(
    store: Store,
    run_a: str,
    run_b: str,
    *,
    judge: JudgeModel | Mapping[str, Any],
    criteria: str | None = None,
    concurrency: int = 8,
) -> PairwiseReport:
    """Blocking form of :func:`pairwise_judge_async`."""
    return run_sync(
        pairwise_judge_async(
            store, run_a, run_b, judge=judge, criteria=criteria, concurrency=concurrency
        )
    )
