"""Retries: which failures are worth another attempt, and how long to wait before it.

How long is :class:`assay.retrying.Backoff`'s (full-jitter exponential waits, the server's
``Retry-After`` a floor); this module says which target failures are worth another attempt.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

import httpx

from assay.retrying import Backoff
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
class RetryPolicy(Backoff):
    """``max_retries`` further attempts after the first, exponential backoff with full jitter."""

    def should_retry(self, attempt: int, failure: Failure) -> bool:
        return failure.retryable and self.allows(attempt)
