"""Which internal addresses outbound calls may reach, and where that rule is in force.

A :class:`Policy` guards a call; ``None`` means an unguarded call (a library user calling
their own URLs from their own process). The server puts its policy in force for everything it
builds while handling a request or running a claimed experiment (:func:`enforced`), so a
judge or target built there is guarded without every builder having to pass it along.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from assay.config import Settings
from assay.errors import InvalidInput
from assay.outbound.addresses import (
    Resolver,
    Unresolvable,
    check_host,
    check_url,
    resolve_host,
)

LOOPBACK = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True, slots=True)
class Policy:
    """Internal addresses are refused except those ``allow`` names (hosts, IPs, networks)."""

    allow: tuple[str, ...] = ()

    def check_url(self, url: str, resolve: Resolver = resolve_host) -> list[str]:
        return check_url(url, allow=self.allow, resolve=resolve)

    def check_host(self, host: str, port: int, resolve: Resolver = resolve_host) -> list[str]:
        return check_host(host, port, allow=self.allow, resolve=resolve)

    def screen_url(self, url: str, resolve: Resolver = resolve_host) -> None:
        """The check when a URL is saved or a call is prepared: an internal address or a bad
        URL is refused. A name that does not resolve now, or a host still to be filled from a
        template, passes: every connection is checked again, on the rendered URL."""
        try:
            self.check_url(url, resolve)
        except Unresolvable:
            pass
        except InvalidInput:
            if "{{" not in url and "{%" not in url:
                raise


def server_policy(settings: Settings) -> Policy:
    """The server's guard: ``ASSAY_OUTBOUND_ALLOW``, plus loopback for a keyless server.

    A keyless server answers only its own machine (loopback binding, loopback ``Host``), so
    its one user may reach model servers on that machine; private networks and cloud metadata
    stay refused unless allow-listed.
    """
    allow: Iterable[str] = settings.outbound_allow
    if settings.auth == "none":
        allow = [*allow, *LOOPBACK]
    return Policy(tuple(allow))


_ACTIVE: ContextVar[Policy | None] = ContextVar("assay_outbound_policy", default=None)


def active() -> Policy | None:
    """The policy in force here (None outside the server)."""
    return _ACTIVE.get()


@contextmanager
def enforced(policy: Policy) -> Iterator[Policy]:
    """Put ``policy`` in force for what runs inside (and the threads and tasks it starts)."""
    token = _ACTIVE.set(policy)
    try:
        yield policy
    finally:
        _ACTIVE.reset(token)
