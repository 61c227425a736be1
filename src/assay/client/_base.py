"""What the sync and async clients share: configuration, requests as data, error decoding,
the retry rule (the waits are :mod:`assay.retrying`'s)."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from assay import errors
from assay.errors import AssayError
from assay.retrying import Backoff, retry_after

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_CAP = 60.0  # the longest backoff between two attempts (a Retry-After may ask for more)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    files: Any = None
    data: Any = None
    idempotent: bool = False
    timeout: float | None = None  # this request's own timeout (else the client's)
    content: bytes | None = None  # a body already encoded (sent with ``content_type``)
    content_type: str | None = None

    def request_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": {k: v for k, v in self.params.items() if v is not None}}
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        if self.json is not None:
            kwargs["json"] = self.json
        if self.files is not None:
            kwargs["files"] = self.files
        if self.data is not None:
            kwargs["data"] = self.data
        if self.content is not None:
            kwargs["content"] = self.content
        return kwargs

    def headers(self, base: dict[str, str]) -> dict[str, str]:
        """The client's headers, with this request's content type."""
        if self.content_type is None:
            return base
        return {**base, "Content-Type": self.content_type}

    @property
    def retryable(self) -> bool:
        return self.idempotent or self.method in ("GET", "PUT", "DELETE")


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    headers: dict[str, str]
    timeout: float
    max_retries: int
    retry_backoff: float

    @classmethod
    def build(
        cls,
        base_url: str | None,
        public_key: str | None,
        secret_key: str | None,
        *,
        timeout: float,
        max_retries: int,
        retry_backoff: float,
    ) -> ClientConfig:
        url = (base_url or os.environ.get("ASSAY_URL") or DEFAULT_URL).rstrip("/")
        public = public_key or os.environ.get("ASSAY_PUBLIC_KEY")
        secret = secret_key or os.environ.get("ASSAY_SECRET_KEY")
        # X-Assay-Client: no browser sends a custom header across sites without a preflight
        # the server never grants, so it marks requests a page cannot forge
        headers = {
            "Accept": "application/json",
            "User-Agent": "assay-python",
            "X-Assay-Client": "python",
        }
        if secret and public:
            token = base64.b64encode(f"{public}:{secret}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        elif secret:
            headers["Authorization"] = f"Bearer {secret}"
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        return cls(url, headers, timeout, max_retries, retry_backoff)

    def backoff(self) -> Backoff:
        """The retry policy: ``max_retries``, waits from ``retry_backoff`` doubling to a cap."""
        return Backoff(self.max_retries, self.retry_backoff, RETRY_CAP)


class ErrorResponse(Exception):
    """An answer with an error status (read and closed), retried when its status allows."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = retry_after(response.headers)


def retry_rule(call: Call[Any]) -> Callable[[BaseException], bool]:
    """Whether a failed attempt at ``call`` may be retried: an idempotent call that met a
    connection error or a transient status."""

    def should_retry(exc: BaseException) -> bool:
        if not call.retryable:
            return False
        if isinstance(exc, ErrorResponse):
            return exc.response.status_code in RETRY_STATUSES
        return isinstance(exc, httpx.TransportError)

    return should_retry


def path(*parts: str) -> str:
    """``/api/v1/`` + the URL-quoted parts, with the trailing slash the API uses."""
    return "/api/v1/" + "".join(quote(str(p), safe="") + "/" for p in parts)


def _error_classes() -> dict[str, type[AssayError]]:
    found: dict[str, type[AssayError]] = {}
    stack: list[type[AssayError]] = [AssayError]
    while stack:
        cls = stack.pop()
        found.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return found


_BY_CODE = _error_classes()
_BY_STATUS = {cls.status: cls for cls in reversed(list(_BY_CODE.values()))}


def raise_for_error(response: httpx.Response) -> None:
    """Raise the AssayError the server's envelope names (or one matching the status)."""
    if response.status_code < 400:
        return
    raise error_for(response)


def error_for(response: httpx.Response) -> AssayError:
    """The AssayError the server's error envelope names (or one matching the status)."""
    try:
        body = response.json()
        error = body["error"]
        code, message, details = error["code"], error["message"], dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError):
        code, message, details = "", response.text[:500] or response.reason_phrase, {}
    cls = _BY_CODE.get(code) or _BY_STATUS.get(response.status_code, AssayError)
    details.setdefault("status", response.status_code)
    if cls is errors.InvalidInput:
        return errors.InvalidInput(
            message, field=details.pop("field", None), row=details.pop("row", None), **details
        )
    return cls(message, **details)


def model(cls: type[T]) -> Callable[[httpx.Response], T]:
    """Parse the response body as the pydantic model ``cls``."""

    def parse(response: httpx.Response) -> T:
        assert issubclass(cls, BaseModel)
        try:
            return cls.model_validate_json(response.content)
        except ValidationError as exc:
            raise AssayError(f"unexpected response from the server: {exc}") from None

    return parse


def nothing(_response: httpx.Response) -> None:
    return None


def raw(response: httpx.Response) -> bytes:
    return response.content


def dump(value: Any) -> Any:
    """Request JSON from records or plain data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, list):
        return [dump(v) for v in value]
    return value
