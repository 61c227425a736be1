"""Retrying: how long to wait before trying again, and the loops that wait.

Every caller that retries a remote call (targets, LLM judges, the engine, the SDK client)
uses this one policy and this one ``Retry-After`` parser:

- waits grow exponentially with full jitter: a uniform draw between 0 and
  ``min(cap, base * 2 ** (attempt - 1))``, so many clients that failed together do not retry
  together;
- a server's ``Retry-After`` (seconds or an HTTP-date) or ``retry-after-ms`` (OpenAI's) is a
  floor: we never come back sooner than asked, but never wait longer than
  :data:`MAX_RETRY_AFTER` either, whatever the header says.

It does no I/O of its own (the loops take the ``sleep`` to use, the policy its ``rng``) and
imports nothing from assay, so every layer, the SDK client included, can use it.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

MAX_RETRY_AFTER = 600.0
"""The longest wait a ``Retry-After`` header can ask for (seconds); longer asks are cut to it."""


def parse_retry_after(
    value: str | None, *, now: Callable[[], float] = time.time, scale: float = 1.0
) -> float | None:
    """Seconds a ``Retry-After`` value asks us to wait, at most :data:`MAX_RETRY_AFTER`.

    ``value`` is delay-seconds (``"3"``, ``"1.5"``) or an HTTP-date (a past date is 0). With
    ``scale`` the number is in other units (``0.001`` for ``retry-after-ms``; dates are
    then refused). None for a missing, garbled, negative or non-finite value.
    """
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        if scale != 1.0:
            return None
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        try:
            seconds = when.timestamp() - now()
        except (OverflowError, OSError, ValueError):
            return None
        return min(max(seconds, 0.0), MAX_RETRY_AFTER)
    if not math.isfinite(number) or number < 0:
        return None
    return min(number * scale, MAX_RETRY_AFTER)


def retry_after(
    headers: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> float | None:
    """Seconds the response's headers ask us to wait: ``retry-after-ms``, else ``Retry-After``.

    ``headers`` may be ``httpx.Headers`` (case-insensitive) or a plain mapping of lower-case
    names. None when neither header says anything usable.
    """
    ms = parse_retry_after(headers.get("retry-after-ms"), scale=0.001)
    if ms is not None:
        return ms
    return parse_retry_after(headers.get("retry-after"), now=now)


@dataclass(slots=True)
class Backoff:
    """``max_retries`` further attempts after the first; full-jitter exponential waits."""

    max_retries: int = 5
    base: float = 2.0
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        ``retry_after`` (what the server asked for) is a floor, at most
        :data:`MAX_RETRY_AFTER`.
        """
        ceiling = min(self.cap, self.base * (2 ** min(attempt - 1, 64)))
        wait = self.rng.uniform(0, max(ceiling, 0.0))
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
        return wait

    def allows(self, attempt: int) -> bool:
        """Whether failed attempt number ``attempt`` (1-based) may be followed by another."""
        return attempt <= self.max_retries


def _retry_after_of(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None


def retry_call(
    call: Callable[[int], T],
    policy: Backoff,
    should_retry: Callable[[BaseException], bool],
    *,
    retry_after: Callable[[BaseException], float | None] = _retry_after_of,
    sleep: Callable[[float], object] = time.sleep,
    on_retry: Callable[[int, BaseException, float], object] | None = None,
) -> T:
    """``call(attempt)`` (1-based) until it returns; an exception is retried while the policy
    allows and ``should_retry(exc)`` says so, else raised.

    The wait honours ``retry_after(exc)`` (by default the exception's ``retry_after``
    attribute) as a floor. ``on_retry(attempt, exc, wait)`` is told before each wait.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return call(attempt)
        except Exception as exc:
            wait = _wait_or_raise(exc, attempt, policy, should_retry, retry_after, on_retry)
        sleep(wait)


async def retry_call_async(
    call: Callable[[int], Awaitable[T]],
    policy: Backoff,
    should_retry: Callable[[BaseException], bool],
    *,
    retry_after: Callable[[BaseException], float | None] = _retry_after_of,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    on_retry: Callable[[int, BaseException, float], object] | None = None,
) -> T:
    """:func:`retry_call` for coroutines. Cancellation is never retried (not an Exception)."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call(attempt)
        except Exception as exc:
            wait = _wait_or_raise(exc, attempt, policy, should_retry, retry_after, on_retry)
        await sleep(wait)


def _wait_or_raise(
    exc: Exception,
    attempt: int,
    policy: Backoff,
    should_retry: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None],
    on_retry: Callable[[int, BaseException, float], object] | None,
) -> float:
    """How long to wait after failed attempt ``attempt``; re-raises ``exc`` to give up."""
    if not (policy.allows(attempt) and should_retry(exc)):
        raise exc
    wait = policy.delay(attempt, retry_after(exc))
    if on_retry is not None:
        on_retry(attempt, exc, wait)
    return wait
