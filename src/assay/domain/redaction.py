"""Redaction: secrets in records are masked wherever a record is shown (API, dashboard, CLI).

A value is secret when its key names one: ``api_key``, ``Authorization``, ``X-Api-Key``,
``token``, ``secret``, ``password``, ``cookie`` and their variants (``access_token``,
``client_secret``, ``Proxy-Authorization``…), or when it sits under ``secret_headers``. A masked
string keeps a hint of what it was when it is long enough (``"sk-…abcd"``, with an
``Authorization`` scheme kept: ``"Bearer sk-…abcd"``), else it is ``"••••"``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import PlainSerializer

MASK = "••••"
_SECRET_NAME = re.compile(
    r"(?:^|[-_ ])(?:api[-_]?key|apikey|token|secret|password|passwd|authorization|cookie|"
    r"credentials?|private[-_]?key)$|^(?:auth|secret[-_]?key|access[-_]?key)$",
    re.IGNORECASE,
)
_SECRET_MAPS = frozenset({"secret_headers"})
_SCHEMES = ("bearer ", "basic ", "token ")


def is_secret_name(name: str) -> bool:
    """Whether a key (a parameter or header name) holds a secret."""
    return bool(_SECRET_NAME.search(name.strip()))


def mask(value: Any) -> Any:
    """A secret value as it may be shown: a hint of a long string, else the mask."""
    if value is None or value == "":
        return value
    if not isinstance(value, str):
        return MASK
    scheme = next((value[: len(s)] for s in _SCHEMES if value.lower().startswith(s)), "")
    rest = value[len(scheme) :]
    if len(rest) < 16:
        return scheme + MASK
    return f"{scheme}{rest[:3]}…{rest[-4:]}"


def redact(value: Any) -> Any:
    """A copy of a JSON value with every secret masked (see the module's documentation)."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = str(key)
            if name in _SECRET_MAPS and isinstance(item, dict):
                out[key] = {k: mask(v) for k, v in item.items()}
            elif is_secret_name(name) and not isinstance(item, dict | list):
                out[key] = mask(item)
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


#: A JSON object whose secrets are masked when the record is serialised for a client.
RedactedObject = Annotated[
    dict[str, Any], PlainSerializer(redact, return_type=dict[str, Any], when_used="json")
]
RedactedObjects = Annotated[
    list[dict[str, Any]],
    PlainSerializer(redact, return_type=list[dict[str, Any]], when_used="json"),
]
RedactedHeaders = Annotated[
    dict[str, str], PlainSerializer(redact, return_type=dict[str, str], when_used="json")
]
