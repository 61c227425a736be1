"""May the server call this URL on a user's behalf? The address check.

User-supplied URLs must not reach the server's own network: loopback, private, link-local
(cloud metadata lives there), shared, reserved or multicast addresses are refused unless an
allow-list entry names the host, the address or a network containing it. IPv6 forms that carry
an IPv4 address (mapped, 6to4, NAT64) are judged by the address they carry; numeric IPv4
spellings (``2130706433``, ``0x7f.1``, ``127.1``) are read as the address they spell. The check
runs on every address the name resolves to, so a DNS name pointing inside is refused too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence

import httpx

from assay.errors import Forbidden, InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data"})
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # SIIT "IPv4-translated"
_NUMERIC = re.compile(r"[0-9a-fx.]+", re.IGNORECASE)
_HOST = re.compile(r"[a-z0-9._:-]+", re.IGNORECASE)  # a name (IDNA-encoded) or an address


class Unresolvable(InvalidInput):
    """The host name does not resolve (now)."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (Unresolvable when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise Unresolvable(f"cannot resolve host {host!r}: {reason}", field="url") from None
    return sorted({str(info[4][0]) for info in infos})


def split_url(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL, parsed as the HTTP client parses it."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise InvalidInput(f"not a valid URL: {exc}", field="url") from None
    if parsed.scheme not in ("http", "https"):
        raise InvalidInput(f"URL must use http or https, not {parsed.scheme!r}", field="url")
    if not parsed.host:
        raise InvalidInput("URL has no host", field="url")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise InvalidInput(f"not a valid URL: port {port} is out of range", field="url")
    return parsed.host, port


def literal(host: str) -> Address | None:
    """The address ``host`` spells, in any form a resolver would accept, or None for a name."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if _NUMERIC.fullmatch(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def effective(address: Address) -> Address:
    """The IPv4 address an IPv6 address carries (mapped, translated, 6to4, NAT64), else itself."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _TRANSLATED or any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_internal(address: Address) -> bool:
    """Addresses a server must not be tricked into calling."""
    address = effective(address)
    return (
        not address.is_global
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED)
    )


def _allowed(host: str, address: Address, allow: Iterable[str]) -> bool:
    address = effective(address)
    for entry in allow:
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except (ValueError, TypeError):
            continue
    return False


def check_addresses(host: str, addresses: Iterable[str], allow: Iterable[str]) -> None:
    """Refuse (Forbidden) when any address of ``host`` is internal and not allow-listed."""
    allow = list(allow)
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if is_internal(address) and not _allowed(host, address, allow):
            raise Forbidden(
                f"URL host {host!r} resolves to {address}, an internal address; "
                "add it to ASSAY_OUTBOUND_ALLOW to permit it",
                field="url",
                address=str(address),
            )


def check_host(
    host: str, port: int, *, allow: Iterable[str] = (), resolve: Resolver = resolve_host
) -> list[str]:
    """The addresses to connect to for ``host``, every one of them checked."""
    allow = list(allow)
    bare = host.strip("[]").rstrip(".")
    if not _HOST.fullmatch(bare):
        raise InvalidInput(f"not a valid host name: {host!r}", field="url")
    if bare.lower() in _METADATA_HOSTS and not _allowed(
        bare, ipaddress.ip_address("169.254.169.254"), allow
    ):
        raise Forbidden(f"URL host {host!r} is a cloud metadata service", field="url")
    spelled = literal(bare)
    addresses = [str(spelled)] if spelled is not None else list(resolve(bare, port))
    if not addresses:
        raise Unresolvable(f"cannot resolve host {host!r}", field="url")
    check_addresses(bare, addresses, allow)
    return addresses


def check_url(
    url: str, *, allow: Iterable[str] = (), resolve: Resolver = resolve_host
) -> list[str]:
    """Refuse ``url`` (Forbidden) if its host is or resolves to an internal address.

    Returns the resolved addresses so a caller can connect to exactly what was checked.
    """
    host, port = split_url(url)
    return check_host(host, port, allow=allow, resolve=resolve)


async def check_url_async(url: str, *, allow: Iterable[str] = ()) -> list[str]:
    """``check_url`` without blocking the event loop on DNS."""
    return await asyncio.to_thread(check_url, url, allow=list(allow))
