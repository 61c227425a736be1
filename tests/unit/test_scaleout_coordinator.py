"""The coordinator's rate-limit leases (plain Python: no Ray needed to check the arithmetic)."""

from __future__ import annotations

from assay.engine.limits import RateLimiter
from assay.scaleout.coordinator import GRANT_SHARE, LEASE_TTL, Coordinator


def test_permits_are_leased_in_blocks_up_to_the_limit() -> None:
    rpm = 40
    c = Coordinator({"p": (rpm, None)})
    first, wait = c.lease("p", 0.0, 10, [], [])
    assert len(first) == rpm // GRANT_SHARE
    assert wait == 0
    granted = list(first)
    while True:
        tickets, wait = c.lease("p", 0.0, 10, [], [])
        if not tickets:
            break
        granted += tickets
    assert len(granted) == rpm
    assert len(set(granted)) == rpm
    assert wait > RateLimiter.WINDOW  # the window counts grants over 60 s plus LEASE_TTL
    assert c.limiters["p"].WINDOW == RateLimiter.WINDOW + LEASE_TTL
    # Permits a shard never used go back: that many may be granted again at once.
    again, _ = c.lease("p", 0.0, 10, [], granted[:2])
    assert len(again) == 2
    assert c.snapshot()["requests"] == rpm
    assert c.lease("p", 0.0, 0, [], []) == ([], 0.0)  # settles and releases only
    assert c.lease("unlimited", 0.0, 10, [], []) == ([], 0.0)


def test_tokens_are_charged_per_permit_and_settled_in_batches() -> None:
    c = Coordinator({"p": (None, 1000)})
    tickets, _ = c.lease("p", 100.0, 3, [], [])
    assert len(tickets) == 1  # 1000 / 20 / 100: no lease takes more than 1/20 of a minute
    limiter = c.limiters["p"]
    assert limiter._tokens == 100.0
    more, _ = c.lease("p", 10.0, 3, [(tickets[0], 40.0)], [])
    assert limiter._tokens == 40.0 + 10.0 * len(more)
