"""The shared retry policy: the Retry-After parser, the backoff and the retrying loops."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from assay.retrying import (
    MAX_RETRY_AFTER,
    Backoff,
    parse_retry_after,
    retry_after,
    retry_call,
    retry_call_async,
)
from tests.fakes.clock import FakeClock

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


def clock() -> float:
    return NOW


# ---------------------------------------------------------------- the parser
@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3", 3.0), ("0", 0.0), (" 7 ", 7.0), ("1.5", 1.5), ("0.25", 0.25)],
)
def test_delay_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value) == seconds


def test_http_dates_count_from_now() -> None:
    later = format_datetime(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now=clock) == 30.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=clock) == 0.0  # past: now


@pytest.mark.parametrize(
    "value", [None, "", "  ", "soon", "-1", "-0.5", "nan", "inf", "-inf", "3 seconds", "Wed, 99"]
)
def test_garbage_and_negative_values_are_none(value: str | None) -> None:
    assert parse_retry_after(value, now=clock) is None


def test_huge_values_are_capped() -> None:
    assert parse_retry_after("86400") == MAX_RETRY_AFTER
    assert parse_retry_after("1e300") == MAX_RETRY_AFTER
    far = format_datetime(datetime(2999, 1, 1, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(far, now=clock) == MAX_RETRY_AFTER


def test_headers_prefer_retry_after_ms() -> None:
    assert retry_after(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert retry_after(httpx.Headers({"Retry-After-Ms": "1500"})) == 1.5
    assert retry_after(httpx.Headers({"retry-after-ms": "junk", "retry-after": "9"})) == 9.0
    assert retry_after(httpx.Headers({"retry-after-ms": "-5", "retry-after": "2"})) == 2.0
    assert retry_after(httpx.Headers({"retry-after-ms": "1e12"})) == MAX_RETRY_AFTER
    # milliseconds are a number, never a date
    assert retry_after({"retry-after-ms": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert retry_after(httpx.Headers({"Retry-After": "4"})) == 4.0
    assert retry_after({}) is None


# ---------------------------------------------------------------- the backoff
def test_full_jitter_under_an_exponential_cap() -> None:
    policy = Backoff(max_retries=5, base=1.0, cap=10.0, rng=random.Random(7))
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (4, 8.0), (5, 10.0), (200, 10.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8
        assert min(delays) < ceiling * 0.2


def test_retry_after_is_a_floor_but_capped() -> None:
    policy = Backoff(base=0.001, cap=0.001, rng=random.Random(1))
    assert policy.delay(1, 3.0) == 3.0
    assert policy.delay(1, 0.0) <= 0.001
    assert policy.delay(1, 10**9) == MAX_RETRY_AFTER
    roomy = Backoff(base=100.0, cap=100.0, rng=random.Random(2))
    assert all(roomy.delay(3, 0.5) >= 0.5 for _ in range(100))


def test_allows_max_retries_further_attempts() -> None:
    policy = Backoff(max_retries=2)
    assert [policy.allows(n) for n in (1, 2, 3)] == [True, True, False]
    assert not Backoff(max_retries=0).allows(1)


# ---------------------------------------------------------------- the loops
class Flaky(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("flaky")
        self.retry_after = retry_after


def test_loop_retries_until_success_and_records_delays() -> None:
    slept: list[float] = []
    seen: list[int] = []

    def call(attempt: int) -> str:
        seen.append(attempt)
        if attempt < 3:
            raise Flaky()
        return "done"

    policy = Backoff(max_retries=5, base=1.0, cap=4.0, rng=random.Random(3))
    assert retry_call(call, policy, lambda e: isinstance(e, Flaky), sleep=slept.append) == "done"
    assert seen == [1, 2, 3]
    assert len(slept) == 2
    assert 0 <= slept[0] <= 1.0
    assert 0 <= slept[1] <= 2.0


def test_loop_gives_up_after_max_attempts_with_the_last_error() -> None:
    slept: list[float] = []
    told: list[int] = []
    calls: list[int] = []

    def call(attempt: int) -> str:
        calls.append(attempt)
        raise Flaky()

    with pytest.raises(Flaky):
        retry_call(
            call,
            Backoff(max_retries=2, base=0.5),
            lambda e: True,
            sleep=slept.append,
            on_retry=lambda attempt, exc, wait: told.append(attempt),
        )
    assert calls == [1, 2, 3]
    assert len(slept) == 2
    assert told == [1, 2]


def test_loop_does_not_retry_what_the_predicate_refuses() -> None:
    slept: list[float] = []
    calls: list[int] = []

    def call(attempt: int) -> str:
        calls.append(attempt)
        raise ValueError("bad request")

    with pytest.raises(ValueError, match="bad request"):
        retry_call(call, Backoff(), lambda e: isinstance(e, Flaky), sleep=slept.append)
    assert calls == [1]
    assert slept == []


def test_loop_honours_retry_after_as_a_floor() -> None:
    slept: list[float] = []

    def call(attempt: int) -> str:
        if attempt == 1:
            raise Flaky(retry_after=7.5)
        if attempt == 2:
            raise Flaky()
        return "ok"

    policy = Backoff(base=0.01, cap=0.01, rng=random.Random(4))
    assert retry_call(call, policy, lambda e: True, sleep=slept.append) == "ok"
    assert slept[0] == 7.5
    assert slept[1] <= 0.01


def test_loop_reads_retry_after_with_the_given_function() -> None:
    slept: list[float] = []

    def call(attempt: int) -> str:
        if attempt == 1:
            raise RuntimeError("limited")
        return "ok"

    policy = Backoff(base=0.0, cap=0.0)
    retry_call(call, policy, lambda e: True, retry_after=lambda e: 2.0, sleep=slept.append)
    assert slept == [2.0]


async def test_async_loop_with_a_fake_clock() -> None:
    fake = FakeClock()
    calls: list[int] = []

    async def call(attempt: int) -> int:
        calls.append(attempt)
        if attempt < 4:
            raise Flaky(retry_after=1.0 if attempt == 2 else None)
        return attempt

    policy = Backoff(max_retries=3, base=0.1, cap=0.1, rng=random.Random(5))
    assert await retry_call_async(call, policy, lambda e: True, sleep=fake.sleep) == 4
    assert calls == [1, 2, 3, 4]
    assert len(fake.sleeps) == 3
    assert fake.sleeps[1] == 1.0
    assert all(s <= 0.1 for s in (fake.sleeps[0], fake.sleeps[2]))


async def test_async_loop_gives_up_and_never_retries_cancellation() -> None:
    fake = FakeClock()

    async def flaky(attempt: int) -> int:
        raise Flaky()

    with pytest.raises(Flaky):
        await retry_call_async(flaky, Backoff(max_retries=1), lambda e: True, sleep=fake.sleep)
    assert len(fake.sleeps) == 1

    async def cancelled(attempt: int) -> int:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await retry_call_async(cancelled, Backoff(), lambda e: True, sleep=fake.sleep)
    assert len(fake.sleeps) == 1


def test_storage_writes_retry_storage_errors_only() -> None:
    from assay.errors import StorageError
    from assay.store.writer_process import retry_storage

    def scripted(*outcomes: Exception | int) -> tuple[list[int], Callable[[], int]]:
        calls: list[int] = []

        def write() -> int:
            outcome = outcomes[min(len(calls), len(outcomes) - 1)]
            calls.append(1)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        return calls, write

    calls, write = scripted(StorageError("database is locked"), 7)
    assert retry_storage(write, retries=2) == 7
    assert len(calls) == 2
    calls, write = scripted(ValueError("not a storage hiccup"))
    with pytest.raises(ValueError):
        retry_storage(write, retries=2)
    assert len(calls) == 1
    calls, write = scripted(StorageError("still locked"))
    with pytest.raises(StorageError):
        retry_storage(write, retries=1)
    assert len(calls) == 2
