"""What each route requires, declared as a dependency.

Every route depends on exactly one of:

- ``public``: no credentials (``/health``);
- ``project_store``: an API key of a project (HTTP Basic ``public:secret`` or
  ``Authorization: Bearer <secret>``), or nothing when the server runs with ``ASSAY_AUTH=none``
  (single user, loopback only, the configured project). The route gets that project's Store,
  so another project's rows are simply not found. GET and HEAD need a ``read`` key (any key),
  every other method a ``write`` key;
- ``admin_store``: the same, with an ``admin`` key whatever the method (key management, the
  audit log, deleting datasets and experiments).

A key whose role is short of what the route needs gets 403 ``forbidden`` naming the role needed,
before the route looks anything up (so it learns nothing about the target either).

``undeclared_routes`` lists any served route that declares neither; a test keeps it empty.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import fastapi.routing
from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from assay.domain import LOCAL_ACTOR, KeyRole
from assay.errors import Forbidden, Unauthorized
from assay.server.ratelimit import rate_limits
from assay.store import Store, authenticate_key

#: Methods that change nothing: a ``read`` key may use them.
READ_METHODS = frozenset({"GET", "HEAD"})


def public() -> None:
    """Declares a route that anyone may call."""


def _credentials(header: str | None) -> tuple[str | None, str]:
    if not header:
        raise Unauthorized("missing credentials: send an API key as HTTP Basic or Bearer")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return None, value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 inside
            raise Unauthorized("malformed Basic credentials") from None
        public_key, sep, secret = decoded.partition(":")
        if sep and public_key and secret:
            return public_key, secret
        raise Unauthorized("Basic credentials must be public_key:secret_key")
    raise Unauthorized("unsupported authorization scheme: use Basic or Bearer")


def _authorized(request: Request, needed: KeyRole) -> Store:
    """The Store of the project the request's key belongs to, if its role allows ``needed``."""
    state = request.app.state.assay
    if state.settings.auth == "none":
        return Store(state.db, state.default_project_id, actor=LOCAL_ACTOR)
    limits = rate_limits(request.app)
    ip = request.client.host if request.client else "unknown"
    try:
        public_key, secret = _credentials(request.headers.get("authorization"))
    except Unauthorized:
        limits.before_auth(ip, None)
        limits.failed(ip, None)
        raise
    limits.before_auth(ip, public_key)
    try:
        project, key = authenticate_key(state.db, public_key=public_key, secret=secret)
    except Unauthorized:
        limits.failed(ip, public_key)
        raise
    limits.request(public_key, secret)
    if not key.role.allows(needed):
        raise Forbidden(
            f"this API key has the {key.role.value} role; {request.method} "
            f"{request.url.path} needs a key with the {needed.value} role",
            role=key.role.value,
            required_role=needed.value,
        )
    return Store(state.db, project.id, actor=key.public_key)


def project_store(request: Request) -> Store:
    """The project's Store, for a ``read`` key on GET and HEAD, a ``write`` key otherwise."""
    needed = KeyRole.read if request.method in READ_METHODS else KeyRole.write
    return _authorized(request, needed)


def admin_store(request: Request) -> Store:
    """The project's Store, for an ``admin`` key only."""
    return _authorized(request, KeyRole.admin)


ProjectStore = Annotated[Store, Depends(project_store)]
AdminStore = Annotated[Store, Depends(admin_store)]
Public = Depends(public)
Admin = Depends(admin_store)

#: The dependencies that declare a requirement; every route has exactly one.
REQUIREMENTS = (public, project_store, admin_store)


def _calls(dependant: Dependant) -> list[Callable[..., Any]]:
    found: list[Callable[..., Any]] = []
    for dep in dependant.dependencies:
        if dep.call is not None:
            found.append(dep.call)
        found.extend(_calls(dep))
    return found


#: Routes FastAPI itself adds (the schema); they expose no project data.
FRAMEWORK_PATHS = frozenset({"/openapi.json"})


@dataclass(frozen=True)
class RouteInfo:
    """A served route with its full path (router prefixes included)."""

    path: str
    methods: frozenset[str]
    dependant: Dependant | None


def served_routes(app: FastAPI) -> list[RouteInfo]:
    """Every route the app serves, flattening included routers on every FastAPI version."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    contexts: list[Any] = list(iterate(app.routes)) if iterate else list(app.routes)
    out: list[RouteInfo] = []
    for ctx in contexts:
        original = getattr(ctx, "original_route", ctx)
        dependant = getattr(ctx, "dependant", None)
        if dependant is None and isinstance(original, APIRoute):
            dependant = original.dependant
        methods = getattr(ctx, "methods", None) or set()
        out.append(RouteInfo(str(ctx.path), frozenset(methods), dependant))
    return out


def required_role(route: RouteInfo, method: str) -> KeyRole | None:
    """The role a key needs for ``method`` on ``route``; None for a public route."""
    calls = _calls(route.dependant) if route.dependant is not None else []
    if admin_store in calls:
        return KeyRole.admin
    if project_store in calls:
        return KeyRole.read if method in READ_METHODS else KeyRole.write
    return None


def undeclared_routes(app: FastAPI) -> list[str]:
    """Routes that do not declare exactly one requirement (should be none)."""
    bad: list[str] = []
    for route in served_routes(app):
        if route.dependant is None:
            if route.path not in FRAMEWORK_PATHS:
                bad.append(route.path)
            continue
        declared = [c for c in _calls(route.dependant) if c in REQUIREMENTS]
        if len(declared) != 1:
            bad.append(f"{sorted(route.methods)} {route.path}")
    return bad
