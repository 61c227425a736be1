"""What each route requires, declared as a dependency.

Every route depends on exactly one of:

- ``public``: no credentials (``/health``);
- ``project_store``: an API key of a project (HTTP Basic ``public:secret`` or
  ``Authorization: Bearer <secret>``), or nothing when the server runs with ``ASSAY_AUTH=none``
  (single user, loopback only, the configured project). The route gets that project's Store,
  so another project's rows are simply not found.

A test walks ``app.routes`` and fails on any route that declares neither.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Depends, Request

from assay.errors import Unauthorized
from assay.store import Store
from assay.store.keys import authenticate


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
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials") from None
        public_key, sep, secret = decoded.partition(":")
        if sep and public_key and secret:
            return public_key, secret
        raise Unauthorized("Basic credentials must be public_key:secret_key")
    raise Unauthorized("unsupported authorization scheme: use Basic or Bearer")


def project_store(request: Request) -> Store:
    """The Store of the project the request is authenticated for."""
    state = request.app.state.assay
    if state.settings.auth == "none":
        return Store(state.db, state.default_project_id)
    public_key, secret = _credentials(request.headers.get("authorization"))
    project = authenticate(state.db, public_key=public_key, secret=secret)
    return Store(state.db, project.id)


ProjectStore = Annotated[Store, Depends(project_store)]
Public = Depends(public)

#: The dependencies that declare a requirement; every route has exactly one.
REQUIREMENTS = (public, project_store)
