"""Request guards in front of every route, as plain ASGI middleware.

- :class:`RequestGuard`: a keyless server answers only requests addressed to a loopback name
  (a DNS name rebound to 127.0.0.1 by another site arrives with that site's ``Host``); a
  request that changes data (POST, PUT, PATCH, DELETE) is refused when the browser says it
  comes from another site (``Origin``, ``Referer``, ``Sec-Fetch-Site``), and a POST that
  nothing shows to come from the server's own pages must be one no page can send without a
  preflight: JSON, or a custom header (``X-Assay-Client``, HTMX's ``HX-Request``), or a
  Bearer key. (Other methods always need a preflight, which this server never grants.)
- :class:`OutboundScope`: puts the server's outbound policy in force while a request is
  handled, so any target or judge built for it is guarded.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from assay.outbound import Policy, enforced
from assay.server.errors import envelope
from assay.server.serve import is_loopback

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Content types a page may send to any site without a preflight.
SIMPLE_TYPES = frozenset(
    {"text/plain", "multipart/form-data", "application/x-www-form-urlencoded", ""}
)
#: Custom headers that mark a request a cross-site page cannot send.
CLIENT_HEADERS = ("x-assay-client", "hx-request")
#: The host name of Starlette's test client.
TEST_HOST = "testserver"


def host_name(host: str) -> str:
    """``[::1]:8000`` → ``::1``; ``localhost:8000`` → ``localhost``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def loopback_host(host: str | None) -> bool:
    name = host_name(host or "")
    return name == TEST_HOST or (bool(name) and is_loopback(name))


def cross_site(method: str, headers: Headers) -> str | None:
    """Why a data-changing request must be refused, or None."""
    own = (headers.get("host") or "").lower()
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"refused a {site} request: changes are accepted only from this server's pages"
    for name in ("origin", "referer"):
        value = headers.get(name)
        if value is None:
            continue
        if urlsplit(value).netloc.lower() != own or value == "null":
            return f"refused a request from {value!r}: changes are accepted only from this site"
        return None  # the browser says it comes from this site
    if method != "POST":  # PUT, PATCH, DELETE never cross sites without a preflight
        return None
    if headers.get("authorization", "").lower().startswith("bearer "):
        return None
    if any(headers.get(h) for h in CLIENT_HEADERS):
        return None
    kind = headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind in SIMPLE_TYPES:
        return (
            "a request that changes data must be JSON or carry the X-Assay-Client header "
            "(any value), so that no other web page can send it"
        )
    return None


class RequestGuard:
    def __init__(self, app: ASGIApp, *, loopback_only: bool) -> None:
        self.app = app
        self.loopback_only = loopback_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        problem = None
        if self.loopback_only and not loopback_host(headers.get("host")):
            problem = (
                f"this server runs without authentication and answers only requests "
                f"addressed to localhost, 127.0.0.1 or [::1], not {headers.get('host')!r}"
            )
        elif scope["method"] in MUTATING:
            problem = cross_site(scope["method"], headers)
        if problem is None:
            await self.app(scope, receive, send)
            return
        await envelope(403, "forbidden", problem)(scope, receive, send)


class OutboundScope:
    def __init__(self, app: ASGIApp, *, policy: Policy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with enforced(self.policy):
            await self.app(scope, receive, send)
