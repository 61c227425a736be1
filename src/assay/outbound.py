"""Outbound safety: may the server call this URL on a user's behalf?

With authentication on, user-supplied URLs (HTTP endpoint targets, provider base URLs) must not
reach the server's own network: loopback, private, link-local (cloud metadata lives there),
shared, reserved or multicast addresses are refused unless an allow-list entry names the host,
the address or a network containing it. The check runs on every address the name resolves to,
so a DNS name pointing inside is refused too; callers check again on every redirect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

from assay.errors import Forbidden, InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInput(f"cannot resolve host {host!r}: {exc.strerror}", field="url") from None
    return sorted({str(info[4][0]) for info in infos})


def split_url(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL; InvalidInput for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"not a valid URL: {exc}", field="url") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"URL must use http or https, not {parts.scheme!r}", field="url")
    if not parts.hostname:
        raise InvalidInput("URL has no host", field="url")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def is_internal(address: Address) -> bool:
    """Addresses a server must not be tricked into calling."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return is_internal(address.ipv4_mapped)
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED)
    )


_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


def _allowed(host: str, address: Address, allow: Iterable[str]) -> bool:
    for entry in allow:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_url(url: str, *, allow: Iterable[str] = (), resolve: Resolver = _resolve) -> list[str]:
    """Refuse ``url`` (Forbidden) if its host is or resolves to an internal address.

    Returns the resolved addresses so a caller can connect to exactly what was checked.
    """
    host, port = split_url(url)
    allow = list(allow)
    bare = host.strip("[]")
    if bare.lower().rstrip(".") in _METADATA_HOSTS and not _allowed(
        bare, ipaddress.ip_address("169.254.169.254"), allow
    ):
        raise Forbidden(f"URL host {host!r} is a cloud metadata service", field="url")
    try:
        addresses = [str(ipaddress.ip_address(bare))]
    except ValueError:
        addresses = list(resolve(bare, port))
    if not addresses:
        raise InvalidInput(f"cannot resolve host {host!r}", field="url")
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if is_internal(address) and not _allowed(bare, address, allow):
            raise Forbidden(
                f"URL host {host!r} resolves to {address}, an internal address; "
                "add it to ASSAY_OUTBOUND_ALLOW to permit it",
                field="url",
                address=str(address),
            )
    return addresses


async def check_url_async(url: str, *, allow: Iterable[str] = ()) -> list[str]:
    """``check_url`` without blocking the event loop on DNS."""
    return await asyncio.to_thread(check_url, url, allow=list(allow))
