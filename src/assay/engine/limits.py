"""Flow control: requests/tokens per minute per provider, and concurrency that yields to 429s."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Limiter(Protocol):
    """What the runner asks before each call: this process's :class:`RateLimiter`, or one that
    consults a limit shared by many processes (a cluster's)."""

    async def acquire(self, tokens: float = 0.0) -> Any:
        """Wait until one more request of about ``tokens`` fits; returns a handle for settle."""
        ...

    def settle(self, event: Any, tokens: float) -> None:
        """Replace the estimate of the request behind ``event`` with what it really used."""
        ...


class RateLimiter:
    """Sliding one-minute window on requests and tokens, shared by every run in the process.

    ``acquire(tokens)`` waits until one more request of about ``tokens`` fits in the window;
    ``settle`` replaces the estimate with the tokens the call really used. ``clock`` and
    ``sleep`` (``time.monotonic`` and ``asyncio.sleep`` by default) let tests run the window on
    a fake clock.
    """

    WINDOW = 60.0

    def __init__(
        self,
        rpm: int | None = None,
        tpm: int | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self._clock = clock
        self._sleep = sleep
        self._events: deque[list[float]] = deque()  # [time, tokens]
        self._tokens = 0.0
        self._lock = asyncio.Lock()

    def _expire(self, now: float) -> None:
        while self._events and now - self._events[0][0] >= self.WINDOW:
            self._tokens -= self._events.popleft()[1]

    def _wait_time(self, now: float, tokens: float) -> float:
        waits = [0.0]
        if self.rpm is not None and len(self._events) >= self.rpm:
            waits.append(self._events[len(self._events) - self.rpm][0] + self.WINDOW - now)
        if self.tpm is not None and self._events and self._tokens + tokens > self.tpm:
            excess = self._tokens + tokens - self.tpm
            freed = 0.0
            for when, used in self._events:
                freed += used
                if freed >= excess:
                    waits.append(when + self.WINDOW - now)
                    break
        return max(waits)

    def try_acquire(self, tokens: float = 0.0) -> tuple[list[float] | None, float]:
        """Take one request now if it fits: (its event, 0), else (None, seconds to wait)."""
        now = self._clock()
        self._expire(now)
        wait = self._wait_time(now, tokens)
        if wait > 0:
            return None, wait
        event = [now, float(tokens)]
        self._events.append(event)
        self._tokens += tokens
        return event, 0.0

    async def acquire(self, tokens: float = 0.0) -> list[float]:
        async with self._lock:
            while True:
                event, wait = self.try_acquire(tokens)
                if event is not None:
                    return event
                await self._sleep(wait)

    def settle(self, event: list[float], tokens: float) -> None:
        if event in self._events:
            self._tokens += tokens - event[1]
        event[1] = tokens

    def release(self, event: list[float]) -> None:
        """Take back a request that was never sent (it leaves the window)."""
        for i, other in enumerate(self._events):
            if other is event:
                del self._events[i]
                self._tokens -= event[1]
                return


_LIMITERS: dict[tuple[str, int | None, int | None], RateLimiter] = {}


def limiter_for(key: str, rpm: int | None, tpm: int | None) -> RateLimiter | None:
    """The process-wide limiter for a provider endpoint (None when unlimited)."""
    if rpm is None and tpm is None:
        return None
    return _LIMITERS.setdefault((key, rpm, tpm), RateLimiter(rpm, tpm))


class AdaptiveLimit:
    """Concurrency that halves on a 429 and grows back by one per window of successes (AIMD).

    Rate limits less than ``cooldown`` seconds (on ``clock``, ``time.monotonic`` by default)
    after a cut are answers to calls sent before it and do not cut again.
    """

    def __init__(
        self,
        maximum: int,
        *,
        enabled: bool = True,
        cooldown: float = 1.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.maximum = maximum
        self.limit = maximum
        self.enabled = enabled
        self.cooldown = cooldown
        self._clock = clock
        self.in_use = 0
        self.peak = 0
        self._successes = 0
        self._last_cut = -math.inf
        self._waiting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._cond = asyncio.Condition()

    def take(self) -> bool:
        """Take a slot if one is free now (no coroutine: the common case of every call)."""
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        if self.in_use > self.peak:
            self.peak = self.in_use
        return True

    async def acquire(self) -> None:
        if self.in_use >= self.limit:
            self._waiting += 1
            try:
                async with self._cond:
                    await self._cond.wait_for(lambda: self.in_use < self.limit)
            finally:
                self._waiting -= 1
        self.in_use += 1
        self.peak = max(self.peak, self.in_use)

    def release(self) -> None:
        self.in_use -= 1
        if self._waiting:
            task = asyncio.get_running_loop().create_task(self._notify())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify(max(self.limit - self.in_use, 0))

    def on_success(self) -> None:
        if not self.enabled or self.limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self._successes = 0
            self.limit += 1

    def on_rate_limited(self) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if now - self._last_cut >= self.cooldown:
            self._last_cut = now
            self.limit = max(1, self.limit // 2)
            self._successes = 0
