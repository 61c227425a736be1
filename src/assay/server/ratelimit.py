"""Rate limits: failed authentications per client IP and key, requests per API key.

Token buckets in this process's memory (each server process counts on its own): a bucket
holds up to ``per_minute`` tokens and refills at ``per_minute / 60`` a second. Failures are
counted twice: per (client IP, public key named) and per client IP with ``ADDRESS_FACTOR`` times
the allowance. Guessing one key's secret locks out only that key from that address, so other
keys used from behind the same NAT keep working, while spraying many keys from one address
still ends at the wider limit. A request whose buckets are empty is refused (429,
``Retry-After``) before its credentials are checked; an API key whose request bucket is empty is
refused after. The clock is injectable, so tests do not depend on the machine's speed.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, HTTPException

from assay.config import Settings

_MAX_BUCKETS = 100_000  # beyond this, full (idle) buckets are forgotten
#: How many more failures an address may have, across all keys, than one key from it.
ADDRESS_FACTOR = 10


@dataclass
class TokenBucket:
    capacity: float
    rate: float  # tokens a second
    tokens: float
    stamp: float

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0: one is)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> float:
        """Take a token; else the seconds until one is available (nothing taken)."""
        wait = self.wait(now)
        if wait == 0.0:
            self.tokens -= 1
        return wait


class Buckets:
    """One bucket per key (an IP, an API key), ``per_minute`` each; 0 turns the limit off."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: str, now: float) -> TokenBucket:
        found = self._buckets.get(key)
        if found is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._forget_full(now)
            found = TokenBucket(self.per_minute, self.per_minute / 60, self.per_minute, now)
            self._buckets[key] = found
        return found

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            if bucket.wait(now) == 0.0 and bucket.tokens >= bucket.capacity:
                del self._buckets[key]

    def wait(self, key: str) -> float:
        if not self.per_minute:
            return 0.0
        with self._lock:
            now = self.clock()
            return self._bucket(key, now).wait(now)

    def take(self, key: str) -> float:
        if not self.per_minute:
            return 0.0
        with self._lock:
            now = self.clock()
            return self._bucket(key, now).take(now)


def _failure_key(ip: str, public_key: str | None) -> str:
    return f"{ip}\n{public_key or ''}"


def too_many(wait: float, what: str) -> HTTPException:
    seconds = max(1, math.ceil(wait))
    return HTTPException(
        429, f"too many {what}: retry in {seconds} s", headers={"Retry-After": str(seconds)}
    )


class RateLimits:
    """The server's limits, from the settings."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        allowed = settings.rate_limit_auth_failures
        self.failures = Buckets(allowed, clock)
        self.address_failures = Buckets(allowed * ADDRESS_FACTOR, clock)
        self.requests = Buckets(settings.rate_limit_requests, clock)

    def before_auth(self, ip: str, public_key: str | None) -> None:
        """Refuse a client IP that has used up its failed authentications, for this key (a
        public key, or Bearer secrets as one) or for all keys."""
        wait = self.failures.wait(_failure_key(ip, public_key))
        if wait:
            raise too_many(wait, "failed authentications for this key from this address")
        wait = self.address_failures.wait(ip)
        if wait:
            raise too_many(wait, "failed authentications from this address")

    def failed(self, ip: str, public_key: str | None) -> None:
        self.failures.take(_failure_key(ip, public_key))
        self.address_failures.take(ip)

    def request(self, public_key: str | None, secret: str) -> None:
        """Count a request of an authenticated key; refuse it once the key's limit is used."""
        key = public_key or hashlib.sha256(secret.encode()).hexdigest()
        wait = self.requests.take(key)
        if wait:
            raise too_many(wait, "requests for this API key")


def rate_limits(app: FastAPI) -> RateLimits:
    """The app's limits, made on first use (tests set ``app.state.rate_limits`` first)."""
    found = getattr(app.state, "rate_limits", None)
    if found is None:
        found = app.state.rate_limits = RateLimits(app.state.assay.settings)
    assert isinstance(found, RateLimits)
    return found
