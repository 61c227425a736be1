"""The coordinator: the state of one run that every shard of it consults, in one Ray actor.

It is plain Python, serialised by Ray: one method at a time, so its state needs no locks. A
:class:`Hub` actor, one per driver process and reused by every run it drives (starting an actor
costs a Ray worker process, a second or more), holds the coordinators of its runs; shards reach
theirs through a :class:`CoordinatorRef`. A coordinator owns what must be global across the
cluster: the requests/tokens per minute of each provider (one sliding window, on this actor's
clock, from which shards lease request permits in blocks), the cost spent against the budget,
the stop signal (cancel, Ctrl+C, budget), the progress of each shard's current attempt, and,
when the store is SQLite, the inbox of result batches the driver's writer drains.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.engine.limits import RateLimiter

if TYPE_CHECKING:
    from assay.store.recording import Rows

COUNTS = ("done", "completed", "failed", "cached", "retries")
LEASE_TTL = 1.0  # seconds a shard may hold a leased request permit before it must use it
GRANT_SHARE = 20  # one lease takes at most 1/GRANT_SHARE of a minute's requests (at least one)


@dataclass
class Stop:
    """Whether shards must stop, why, and whether in-flight calls are cancelled too."""

    reason: str | None = None
    force: bool = False


@dataclass
class _Shard:
    attempt: str
    total: int
    skipped: int
    node: str = ""
    ended: bool = False
    counts: dict[str, int] = field(default_factory=dict)


class Coordinator:
    """Global limits, budget, stop signal, progress and inbox of one run (see module doc)."""

    def __init__(
        self,
        limits: dict[str, tuple[int | None, int | None]],
        *,
        max_cost: float | None = None,
        spent: float = 0.0,
    ) -> None:
        self.limiters = {key: RateLimiter(rpm, tpm) for key, (rpm, tpm) in limits.items()}
        for limiter in self.limiters.values():
            # A permit is used up to LEASE_TTL after its grant: counting grants over a window
            # that much longer keeps every real minute of requests within the limit.
            limiter.WINDOW = RateLimiter.WINDOW + LEASE_TTL
        self.max_cost = max_cost
        self.spent = spent
        self.stop_ = Stop()
        self.shards: dict[int, _Shard] = {}
        self.inbox: list[tuple[Rows, list[Any]]] = []
        self.received: set[str] = set()
        self._events: dict[int, tuple[str, list[float]]] = {}
        self._ids = itertools.count()
        self.requests = 0
        self.attempts = 0

    # ------------------------------------------------------------------ shards
    def start(
        self, shard: int, attempt: str, total: int, skipped: int, node: str = ""
    ) -> tuple[Stop, float]:
        """A shard's attempt begins on ``node`` (a retried shard starts over): the stop signal
        and the spend so far."""
        self.shards[shard] = _Shard(attempt, total, skipped, node)
        self.attempts += 1
        return self.stop_, self.spent

    def end(self, shard: int, attempt: str) -> None:
        """A shard's attempt ended (it returns its outcome to the driver next)."""
        state = self.shards.get(shard)
        if state is not None and state.attempt == attempt:
            state.ended = True

    def report(self, shard: int, attempt: str, counts: dict[str, int], cost: float) -> Stop:
        """A shard's cumulative counts for this attempt and the cost spent since its last
        report; returns the stop signal. Reports of a superseded attempt add only cost."""
        self.spent += cost
        state = self.shards.get(shard)
        if state is not None and state.attempt == attempt:
            state.counts = counts
        if self.max_cost is not None and self.spent >= self.max_cost and self.stop_.reason is None:
            self.stop_ = Stop(f"cost budget of {self.max_cost:g} reached (spent {self.spent:.4f})")
        return self.stop_

    def stop(self, reason: str, force: bool = False) -> Stop:
        """Stop every shard (the first reason is kept; force only ever escalates)."""
        self.stop_ = Stop(self.stop_.reason or reason, self.stop_.force or force)
        return self.stop_

    def snapshot(self) -> dict[str, Any]:
        """The run's progress: counts summed over the current attempt of every shard, with the
        results a retried shard found already done counted as done."""
        totals = dict.fromkeys(COUNTS, 0)
        running: dict[str, int] = {}
        for state in self.shards.values():
            if not state.ended:
                running[state.node] = running.get(state.node, 0) + 1
            totals["done"] += state.skipped
            for key in COUNTS:
                totals[key] += state.counts.get(key, 0)
        return {
            **totals,
            "cost": self.spent,
            "stop": self.stop_.reason,
            "force": self.stop_.force,
            "requests": self.requests,
            "attempts": self.attempts,
            "running": running,
        }

    # ------------------------------------------------------------------ rate limits
    def lease(
        self,
        key: str,
        tokens: float,
        wanted: int,
        settled: list[tuple[int, float]],
        unused: list[int],
    ) -> tuple[list[int], float]:
        """Up to ``wanted`` request permits of about ``tokens`` each for provider ``key``, to be
        used within :data:`LEASE_TTL`: (their tickets, 0), or ([], seconds to wait) when none
        fits now. ``settled`` carries the tokens earlier permits really used; ``unused``, the
        permits a shard let expire (they leave the window)."""
        for ticket, used in settled:
            self.settle(ticket, used)
        for ticket in unused:
            self.release(ticket)
        limiter = self.limiters.get(key)
        if limiter is None or wanted <= 0:
            return [], 0.0
        cap = wanted
        if limiter.rpm is not None:
            cap = min(cap, max(1, limiter.rpm // GRANT_SHARE))
        if limiter.tpm is not None and tokens > 0:
            cap = min(cap, max(1, int(limiter.tpm / GRANT_SHARE / tokens)))
        tickets: list[int] = []
        wait = 0.0
        while len(tickets) < cap:
            event, wait = limiter.try_acquire(tokens)
            if event is None:
                break
            ticket = next(self._ids)
            self._events[ticket] = (key, event)
            tickets.append(ticket)
        self.requests += len(tickets)
        if len(self._events) > 100_000:  # tickets never settled (their shard died)
            for old in list(self._events)[:50_000]:
                del self._events[old]
        return tickets, (0.0 if tickets else wait)

    def settle(self, ticket: int, tokens: float) -> None:
        """The tokens the request behind ``ticket`` really used."""
        found = self._events.pop(ticket, None)
        if found is not None:
            key, event = found
            self.limiters[key].settle(event, tokens)

    def settle_many(self, settled: list[tuple[int, float]]) -> None:
        for ticket, tokens in settled:
            self.settle(ticket, tokens)

    def release(self, ticket: int) -> None:
        """A permit that was never used: it leaves the window."""
        found = self._events.pop(ticket, None)
        if found is not None:
            key, event = found
            self.limiters[key].release(event)
            self.requests -= 1

    # ------------------------------------------------------------------ inbox (SQLite)
    def push(self, rows: Rows, cached: list[Any]) -> None:
        """A shard's batch of finished results, for the driver's writer."""
        self.inbox.append((rows, cached))
        self.received.update(r[11] for r in rows.results)

    def take(self) -> list[tuple[Rows, list[Any]]]:
        """Every batch received since the last take (the driver writes them)."""
        batches, self.inbox = self.inbox, []
        return batches

    def known(self, ids: list[str]) -> list[str]:
        """Of these result ids, those already sent to the driver (a retried shard skips them)."""
        return [i for i in ids if i in self.received]


class Hub:
    """The coordinators of the runs one driver process drives, in one long-lived actor."""

    def __init__(self) -> None:
        self.runs: dict[str, Coordinator] = {}

    def open(
        self,
        run: str,
        limits: dict[str, tuple[int | None, int | None]],
        max_cost: float | None,
        spent: float,
    ) -> None:
        self.runs[run] = Coordinator(limits, max_cost=max_cost, spent=spent)

    def call(self, run: str, method: str, *args: Any) -> Any:
        """``method`` of run ``run``'s coordinator (a KeyError once the run has ended)."""
        return getattr(self.runs[run], method)(*args)

    def close(self, run: str) -> None:
        self.runs.pop(run, None)


class _Method:
    def __init__(self, hub: Any, run: str, name: str) -> None:
        self.hub, self.run, self.name = hub, run, name

    def remote(self, *args: Any) -> Any:
        return self.hub.call.remote(self.run, self.name, *args)


class CoordinatorRef:
    """One run's coordinator inside a :class:`Hub`, called like an actor handle:
    ``ref.snapshot.remote()``. Picklable: shards receive it."""

    def __init__(self, hub: Any, run: str) -> None:
        self.hub = hub
        self.run = run

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Method(self.hub, self.run, name)
