"""A fake monotonic clock whose ``sleep`` moves time forward instead of waiting.

    clock = FakeClock()
    limiter = RateLimiter(rpm=2, clock=clock, sleep=clock.sleep)

``sleep`` records the requested wait, advances ``now`` by it and yields to the event loop once,
so code that waits on the clock runs instantly and exactly, however loaded the machine is.
"""

from __future__ import annotations

import asyncio


class FakeClock:
    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)
