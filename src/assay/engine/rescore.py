"""Re-score an experiment without running its target again.

Each completed result is rebuilt into a :class:`~assay.scoring.Sample` (input, stored output,
expected output, the item's context and metadata, latency, cost, tokens) and scored by the
given scorers, several results at a time (judge calls are slow). Scores are written in batches
by one writer task; each batch replaces the evaluator scores of the same names on its results
and recomputes their ``passed``, so running it twice replaces, never duplicates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assay.domain import Evaluator, ScoreCreate
from assay.engine.spec import build_scorers
from assay.errors import InvalidInput
from assay.scoring import Sample, Scorer, build, run_scorer
from assay.store import Store, StoredResult
from assay.sync import run_sync


@dataclass(slots=True)
class RescoreReport:
    """What a re-scoring did."""

    experiment_id: str
    scorers: list[str]
    results: int = 0
    scores: int = 0
    errors: int = 0
    passed: int = 0
    failed: int = 0
    cost: float = 0.0
    first_error: str | None = None
    evaluator_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "experiment_id": self.experiment_id,
            "scorers": self.scorers,
            "evaluator_ids": self.evaluator_ids,
            "results": self.results,
            "scores": self.scores,
            "errors": self.errors,
            "passed": self.passed,
            "failed": self.failed,
            "cost": self.cost,
            "first_error": self.first_error,
        }


def rescore_scorers(
    store: Store, specs: Sequence[Any] = (), evaluators: Sequence[str] = ()
) -> tuple[list[Scorer], list[str]]:
    """Scorers from specs and saved evaluators (by id or name), with distinct names."""
    scorers, _ = build_scorers(specs)
    ids: list[str] = []
    for ref in evaluators:
        saved: Evaluator = store.evaluators.get(ref)
        try:
            scorers.append(build(saved))
        except InvalidInput as exc:
            raise InvalidInput(
                f"evaluator {saved.name!r} v{saved.version}: {exc.message}", field="evaluator"
            ) from None
        ids.append(saved.id)
    if not scorers:
        raise InvalidInput("give at least one scorer or evaluator", field="scorers")
    names = [s.name for s in scorers]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(
            f"two scorers are named {', '.join(map(repr, dupes))}; give one a distinct name",
            field="scorers",
        )
    return scorers, ids


def sample_of(result: StoredResult) -> Sample:
    return Sample(
        input=result.input,
        output=result.output,
        expected_output=result.expected_output,
        context=result.context,
        metadata=result.metadata,
        item_id=result.item_id,
        latency_ms=result.latency_ms,
        cost=result.cost,
        tokens_in=result.tokens_in,
        tokens_out=result.tokens_out,
    )


async def rescore_results_async(
    store: Store,
    experiment: str,
    scorers: Sequence[Any] = (),
    *,
    evaluators: Sequence[str] = (),
    concurrency: int = 8,
    batch_size: int = 200,
) -> RescoreReport:
    """Score every completed result of ``experiment`` again with ``scorers``/``evaluators``."""
    if concurrency < 1:
        raise InvalidInput("concurrency must be at least 1", field="concurrency")
    if batch_size < 1:
        raise InvalidInput("batch_size must be at least 1", field="batch_size")
    found = store.experiments.get(experiment)
    built, evaluator_ids = rescore_scorers(store, scorers, evaluators)
    report = RescoreReport(found.id, [s.name for s in built], evaluator_ids=evaluator_ids)
    queue: asyncio.Queue[StoredResult | None] = asyncio.Queue(maxsize=concurrency * 4)
    done: asyncio.Queue[tuple[str, list[ScoreCreate]] | None] = asyncio.Queue()

    async def feed() -> None:
        iterator = store.scores.completed_results(found.id)
        while True:
            result = await asyncio.to_thread(next, iterator, None)
            if result is None:
                break
            await queue.put(result)
        for _ in range(concurrency):
            await queue.put(None)

    async def work() -> None:
        while (result := await queue.get()) is not None:
            sample = sample_of(result)
            out: list[ScoreCreate] = []
            for scorer in built:
                out.extend(await run_scorer(scorer, sample))
            await done.put((result.result_id, out))

    async def write() -> None:
        pending: dict[str, list[ScoreCreate]] = {}

        async def flush() -> None:
            verdicts = await asyncio.to_thread(store.scores.replace, found.id, dict(pending))
            report.passed += sum(1 for v in verdicts.values() if v is True)
            report.failed += sum(1 for v in verdicts.values() if v is False)
            pending.clear()

        while (entry := await done.get()) is not None:
            result_id, out = entry
            pending[result_id] = out
            report.results += 1
            for s in out:
                report.scores += 1
                report.cost += s.cost or 0.0
                if s.value is None and (s.reason or "").startswith("scorer error"):
                    report.errors += 1
                    report.first_error = report.first_error or s.reason
            if len(pending) >= batch_size:
                await flush()
        if pending:
            await flush()

    writer = asyncio.create_task(write())
    tasks = [
        asyncio.create_task(feed()),
        *(asyncio.create_task(work()) for _ in range(concurrency)),
    ]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        await done.put(None)
        await writer  # what was scored before a failure is still written
    from assay.analysis.service import store_frame  # NumPy: loaded when scoring ends

    await asyncio.to_thread(store_frame, store, found.id)
    return report


def rescore_results(
    store: Store,
    experiment: str,
    scorers: Sequence[Any] = (),
    *,
    evaluators: Sequence[str] = (),
    concurrency: int = 8,
    batch_size: int = 200,
) -> RescoreReport:
    """Blocking form of :func:`rescore_results_async` (for scripts and the CLI)."""
    return run_sync(
        rescore_results_async(
            store,
            experiment,
            scorers,
            evaluators=evaluators,
            concurrency=concurrency,
            batch_size=batch_size,
        )
    )
