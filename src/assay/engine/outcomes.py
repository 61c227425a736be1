"""What a finished call becomes: its scores, its trace, and the completion the writer records.

:class:`Outcomes` is the part of the :class:`~assay.engine.runner.Runner` that turns a target's
answer (or its final failure, or a cached response) into a :class:`~assay.store.Completion`:
the item is scored, its trace built, and the completion handed to the writer, which also
counts progress and checks the cost budget and sequential stopping after each result.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from assay.domain import ResultStatus, ScoreCreate, WorkItem
from assay.engine.options import Progress, RunOptions
from assay.engine.retry import Failure
from assay.engine.sequential import Watch
from assay.engine.spec import digest
from assay.engine.writer import ResultWriter
from assay.scoring import Sample, Scorer, run_scorer
from assay.store import CachedResponse, Completion, Store
from assay.store.read_ahead import read_ahead
from assay.store.recording import RunTrace
from assay.targets import TargetOutput
from assay.targets.spans import Span, span_totals, tool_calls

_COMPLETED = ResultStatus.completed.value
CACHE_PAGE = 500  # items whose cached responses are looked up at once
_new_sample = Sample.__new__
# Sample is a frozen dataclass: its __init__ sets each field through object.__setattr__. The
# engine builds one per scored result, so it sets the slots directly (tests compare the two).
_set_sample = tuple(getattr(Sample, f.name).__set__ for f in dataclasses.fields(Sample))


(
    _s_input,
    _s_output,
    _s_expected,
    _s_context,
    _s_metadata,
    _s_item_id,
    _s_error,
    _s_latency,
    _s_cost,
    _s_tokens_in,
    _s_tokens_out,
    _s_tool_calls,
    _s_trace,
    _s_variables,
) = _set_sample  # a new field of Sample fails here, at import, not silently


def sample_of(item: WorkItem, output: TargetOutput, latency: float) -> Sample:
    """The sample scorers see for one result (what ``Sample(...)`` builds, faster)."""
    sample = _new_sample(Sample)
    _s_input(sample, item.input)
    _s_output(sample, output.output)
    _s_expected(sample, item.expected_output)
    _s_context(sample, item.context)
    _s_metadata(sample, item.metadata)
    _s_item_id(sample, item.item_id)
    _s_error(sample, None)
    _s_latency(sample, latency)
    _s_cost(sample, output.cost)
    _s_tokens_in(sample, output.tokens_in)
    _s_tokens_out(sample, output.tokens_out)
    # tool steps of the call's trace (OpenTelemetry or assay.span) when it reported none itself
    _s_tool_calls(sample, output.tool_calls or (tool_calls(output.spans) if output.spans else []))
    _s_trace(sample, None)
    _s_variables(sample, {})
    return sample


class Outcomes:
    """Scoring, tracing and submitting finished results (a base of the runner, which sets
    the state declared here)."""

    options: RunOptions
    scorers: list[Scorer]
    progress: Progress
    first_error: str | None
    _writer: ResultWriter | None
    _sequential: Watch | None
    _stopping: bool
    _spent: float
    _name: str
    _experiment_id: str
    _target_hash: str
    _cache: dict[str, CachedResponse]  # looked up, by result id, until the item is taken
    store: Store

    def _cancel(self, force: bool, reason: str) -> None:
        """Stop the run (the runner's own)."""
        raise NotImplementedError

    async def _succeed(
        self, item: WorkItem, output: TargetOutput, attempts: int, latency: float, started: float
    ) -> None:
        if self.scorers:
            scores, passed = await self._score(item, output, latency)
        else:
            scores, passed = [], None
        cache = None
        if self.options.cache and attempts > 0:
            cache = CachedResponse(
                self._cache_key(item),
                output.output,
                output.tokens_in,
                output.tokens_out,
                output.cost,
                latency,
            )
        self._submit(
            Completion(
                item.result_id,
                _COMPLETED,
                output.output,
                None,
                latency,
                output.tokens_in,
                output.tokens_out,
                output.cost,
                attempts,
                passed,
                started,
                started + latency / 1000,
                scores,
                self._trace(item, output, attempts, cached=attempts == 0),
                item,
            ),
            cache,
        )
        self.progress.completed += 1

    def _record_failure(
        self, item: WorkItem, failure: Failure, attempts: int, latency: float, started: float
    ) -> None:
        if self.first_error is None:
            self.first_error = failure.message
        usage = span_totals(failure.spans)  # what the failed call spent before raising
        self._submit(
            Completion(
                item.result_id,
                ResultStatus.failed.value,
                None,
                failure.message,
                latency,
                tokens_in=usage.tokens_in,
                tokens_out=usage.tokens_out,
                cost=usage.cost,
                attempts=attempts,
                started_at=started,
                finished_at=started + latency / 1000,
                trace=self._trace(item, None, attempts, spans=failure.spans),
                item=item,
            ),
            None,
        )
        self.progress.failed += 1

    def _trace(
        self,
        item: WorkItem,
        output: TargetOutput | None,
        attempts: int,
        *,
        cached: bool = False,
        spans: Sequence[Span] = (),
    ) -> RunTrace | None:
        """The trace recorded with a result: the item, what the target was sent, its steps."""
        if not self.options.traces:
            return None
        metadata: dict[str, Any] = {"dataset_item_id": item.item_id, "attempts": attempts}
        if item.repetition:
            metadata["repetition"] = item.repetition
        if cached:
            metadata["cached"] = True
        trace = RunTrace(self._name, self._experiment_id, item.input, metadata=metadata)
        if output is not None:
            trace.request = output.request
            trace.model = output.model
            trace.parameters = output.parameters
            if output.tool_calls:
                trace.tool_calls = list(output.tool_calls)
            spans = output.spans
            if output.model is not None:
                trace.kind = "generation"
        if not spans:
            return trace
        trace.steps = [
            (
                s.name,
                s.type,
                s.parent,
                s.start,
                s.end,
                s.input,
                s.output,
                s.model,
                s.tokens_in,
                s.tokens_out,
                s.cost,
                s.level,
                s.status_message,
                s.metadata,
                s.model_parameters,
            )
            for s in spans
        ]
        return trace

    def _submit(self, completion: Completion, cache: CachedResponse | None) -> None:
        assert self._writer is not None
        self._writer.submit(completion, cache)
        self.progress.done += 1
        if self._sequential is not None and self._sequential.add(completion) and not self._stopping:
            self._cancel(False, self._sequential.reason)
        judged = sum(s.cost for s in completion.scores if s.cost) if completion.scores else 0
        if completion.cost or judged:  # the target's calls, LLM-judge calls
            self.progress.cost += completion.cost or 0.0
            self.progress.judge_cost += judged
            self._spent += (completion.cost or 0.0) + judged
            budget = self.options.max_cost
            if budget is not None and self._spent >= budget and not self._stopping:
                self._cancel(False, f"cost budget of {budget:g} reached (spent {self._spent:.4f})")

    async def _score(
        self, item: WorkItem, output: TargetOutput, latency: float
    ) -> tuple[list[ScoreCreate], bool | None]:
        if not self.scorers:
            return [], None
        sample = sample_of(item, output, latency)
        scores: list[ScoreCreate] = []
        for scorer in self.scorers:
            scores.extend(await run_scorer(scorer, sample))
        verdicts = [s.passed for s in scores if s.passed is not None]
        return scores, (all(verdicts) if verdicts else None)

    # ------------------------------------------------------------------ cache
    def _cache_key(self, item: WorkItem) -> str:
        return digest([self._target_hash, item.input])

    def _looked_up(self, work: Iterable[WorkItem]) -> Iterator[WorkItem]:
        """``work`` as the run takes it, the cached response of each item looked up a page
        ahead on a thread of its own and kept (by result id) until the item is taken: the
        first call starts at once, and the run holds the hits of a page or two, not of every
        item."""

        def pages() -> Iterator[list[tuple[WorkItem, CachedResponse | None]]]:
            items = iter(work)
            while page := list(itertools.islice(items, CACHE_PAGE)):
                keys = [self._cache_key(w) for w in page]
                found = self.store.cache.get_many(keys)
                yield [(w, found.get(k)) for w, k in zip(page, keys, strict=True)]

        for page in read_ahead(pages(), depth=1, name="assay-cache-lookup"):
            for w, hit in page:
                if hit is not None:
                    self._cache[w.result_id] = hit
                yield w

    async def _serve_cached(self, item: WorkItem) -> bool:
        hit = self._cache.pop(item.result_id, None)
        if hit is None:
            return False
        output = TargetOutput(hit.output, hit.tokens_in, hit.tokens_out, hit.cost)
        await self._succeed(item, output, 0, hit.latency_ms or 0.0, time.time())
        self.progress.cached += 1
        return True
