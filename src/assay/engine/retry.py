"""Retries: which failures are worth another attempt, and how long to wait before it.

Waits grow exponentially with full jitter (a uniform draw between 0 and
``min(cap, base * 2 ** (attempt - 1))``), so many clients that failed together do not retry
together. A ``Retry-After`` from the server is a floor: we never come back sooner than asked.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field, replace

import httpx

from assay.targets import TargetError
from assay.targets.spans import Span, spans_of


@dataclass(frozen=True, slots=True)
class Failure:
    message: str
    retryable: bool
    retry_after: float | None = None
    rate_limited: bool = False
    spans: list[Span] = field(default_factory=list)  # steps recorded before the failure


def classify(exc: BaseException, timeout: float | None = None) -> Failure:
    """Describe an exception raised by a target call (with the steps it recorded)."""
    failure = _classify(exc, timeout)
    spans = spans_of(exc)
    return replace(failure, spans=spans) if spans else failure


def _classify(exc: BaseException, timeout: float | None) -> Failure:
    if isinstance(exc, TargetError):
        return Failure(exc.message, exc.retryable, exc.retry_after, exc.rate_limited)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        limit = f" after {timeout:g}s" if timeout else ""
        return Failure(f"timed out{limit}", True)
    if isinstance(exc, httpx.TimeoutException):
        return Failure(f"timed out ({type(exc).__name__})", True)
    if isinstance(exc, ConnectionError | httpx.TransportError):
        return Failure(f"connection error: {exc or type(exc).__name__}", True)
    text = str(exc)
    return Failure(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, False)


@dataclass(slots=True)
class RetryPolicy:
    """``max_retries`` further attempts after the first, exponential backoff with full jitter."""

    max_retries: int = 5
    base: float = 2.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        wait = self.rng.uniform(0, ceiling)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait

    def should_retry(self, attempt: int, failure: Failure) -> bool:
        return failure.retryable and attempt <= self.max_retries
