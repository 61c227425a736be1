"""One factory for every outbound HTTP client, guarded by a :class:`Policy`.

A guarded client resolves each host once, checks every address it got, and connects to a
checked address: the name is not looked up again between the check and the connection (DNS
rebinding), while the ``Host`` header and TLS server name stay the URL's host. Every new
connection is checked, so a rendered URL, a redirect (never followed automatically) or a
keep-alive pool can reach nothing the policy refuses. Proxies from the environment are not
used by a guarded client: the guard must see where it really connects.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import typing

import certifi
import httpcore
import httpx

from assay.outbound.addresses import Resolver, resolve_host
from assay.outbound.policy import Policy

LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=100)


@functools.cache
def tls() -> ssl.SSLContext:
    """One TLS context for every outbound call (building one costs tens of milliseconds)."""
    return ssl.create_default_context(cafile=certifi.where())


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the policy accepts, resolving names once."""

    def __init__(self, policy: Policy, resolve: Resolver = resolve_host) -> None:
        self.policy = policy
        self.resolve = resolve
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await asyncio.to_thread(self.policy.check_host, host, port, self.resolve)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # check_host never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable through a guarded client")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx``'s transport over a connection pool that connects through a GuardedBackend."""

    def __init__(
        self, policy: Policy, *, limits: httpx.Limits = LIMITS, resolve: Resolver = resolve_host
    ) -> None:
        super().__init__(verify=tls(), trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=tls(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy, resolve),
        )


def async_client(
    policy: Policy | None,
    *,
    timeout: float | None,
    transport: httpx.AsyncBaseTransport | None = None,
    resolve: Resolver = resolve_host,
) -> httpx.AsyncClient:
    """An HTTP client for outbound calls: guarded by ``policy``, or a plain one for ``None``.

    ``transport`` replaces the network entirely (tests); redirects are never followed.
    """
    if transport is None and policy is not None:
        transport = GuardedTransport(policy, resolve=resolve)
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        verify=tls(),
        limits=LIMITS,
        follow_redirects=False,
        trust_env=policy is None,
    )
