"""Trying an item: one call under the gate, rate limit and timeout, and the retries after it.

:class:`Attempts` is the part of the :class:`~assay.engine.runner.Runner` that calls the target
for one item until it succeeds, fails for good or the run stops; the retry policy is
:mod:`assay.retrying`'s, with the waits cut short by a stop.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from assay.domain import WorkItem
from assay.engine.limits import AdaptiveLimit, Limiter
from assay.engine.outcomes import Outcomes
from assay.engine.retry import Failure, RetryPolicy, classify
from assay.retrying import retry_call_async
from assay.targets import Target, TargetOutput


class Failed(Exception):
    """A failed attempt at an item: what went wrong, which attempt, its latency and start."""

    def __init__(self, failure: Failure, attempt: int, latency: float, started: float) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.attempt = attempt
        self.latency = latency
        self.started = started
        self.retry_after = failure.retry_after


class Stopped(Exception):
    """The run stopped while an item waited to be tried again."""


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, Failed) and exc.failure.retryable


class Attempts(Outcomes):
    """Calls and retries (a base of the runner, which sets the state declared here)."""

    target: Target
    timeout: float | None
    policy: RetryPolicy
    gate: AdaptiveLimit
    limiter: Limiter | None
    _stop_event: asyncio.Event | None

    async def _attempt(
        self, item: WorkItem, pool: ThreadPoolExecutor | None
    ) -> tuple[TargetOutput | None, Failure | None, float, float]:
        """One call under the gate, rate limit and timeout: (output, failure, ms, started)."""
        if not self.gate.take():
            await self.gate.acquire()
        event = None
        if self.limiter is not None:
            estimate = getattr(self.target, "estimate_tokens", None)
            event = await self.limiter.acquire(estimate(item) if estimate else 0.0)
        started = time.time()
        t0 = time.perf_counter()
        try:
            if pool is not None:
                future = asyncio.get_running_loop().run_in_executor(
                    pool,
                    self.target.call_sync,  # type: ignore[attr-defined]
                    item,
                )
                output = await (asyncio.wait_for(future, self.timeout) if self.timeout else future)
            elif self.timeout is not None:
                async with asyncio.timeout(self.timeout):
                    output = await self.target.call(item)
            else:
                output = await self.target.call(item)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return None, classify(exc, self.timeout), (time.perf_counter() - t0) * 1000, started
        finally:
            self.gate.release()
        if event is not None and self.limiter is not None:
            self.limiter.settle(event, (output.tokens_in or 0) + (output.tokens_out or 0))
        self.gate.on_success()
        return output, None, (time.perf_counter() - t0) * 1000, started

    async def _execute(
        self, item: WorkItem, pool: ThreadPoolExecutor | None, first: Failed | None = None
    ) -> None:
        """Run ``item`` until it succeeds, fails for good, or the run stops (then it is left
        unfinished: a resume runs it again). ``first``: its first attempt, already failed."""
        if first is None:  # the first attempt directly: most calls need no retry machinery
            answer, failed_as, took, began = await self._attempt(item, pool)
            if failed_as is None:
                assert answer is not None
                await self._succeed(item, answer, 1, took, began)
                return
            first = Failed(failed_as, 1, took, began)
        initial: Failed = first

        async def attempt(number: int) -> tuple[TargetOutput, int, float, float]:
            if number == 1:
                failed = initial
            else:
                output, failure, latency, started = await self._attempt(item, pool)
                if failure is None:
                    assert output is not None
                    return output, number, latency, started
                failed = Failed(failure, number, latency, started)
            if failed.failure.rate_limited:
                self.gate.on_rate_limited()
            raise failed

        try:
            output, attempts, latency, started = await retry_call_async(
                attempt, self.policy, retryable, sleep=self._pause
            )
        except Failed as failed:
            self._record_failure(
                item, failed.failure, failed.attempt, failed.latency, failed.started
            )
            return
        except Stopped:
            return
        await self._succeed(item, output, attempts, latency, started)

    async def _pause(self, delay: float) -> None:
        """The wait before another attempt; raises :class:`Stopped` if the run stops first."""
        if self._stopping:
            raise Stopped
        self.progress.retries += 1
        assert self._stop_event is not None
        try:
            await asyncio.wait_for(self._stop_event.wait(), delay)
        except TimeoutError:
            return
        raise Stopped
