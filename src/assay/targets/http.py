"""HTTP endpoint targets (API records): URL, method, headers, a body template, an output path.

Response classification is shared with the model providers: timeouts, connection errors, 408,
429, 5xx and 529 are retryable and ``Retry-After`` / ``retry-after-ms`` are read; other 4xx
fail at once.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from assay.domain import WorkItem
from assay.errors import Forbidden, InvalidInput
from assay.outbound import Policy, active, async_client
from assay.retrying import retry_after
from assay.targets.base import TargetError, TargetOutput
from assay.targets.templating import RenderError, check, extract, render_json, variables

RETRYABLE_STATUS = frozenset({408, 429})  # and every 5xx, including 529 (overloaded)


def classify(response: httpx.Response, what: str) -> TargetError:
    """The error for a non-2xx response, retryable or not, with the server's message."""
    status = response.status_code
    detail = response.text[:300].strip()
    retryable = status in RETRYABLE_STATUS or status >= 500
    return TargetError(
        f"{what} returned HTTP {status}" + (f": {detail}" if detail else ""),
        retryable=retryable,
        retry_after=retry_after(response.headers) if retryable else None,
        status=status,
    )


def transport_error(exc: httpx.HTTPError | Forbidden, what: str) -> TargetError:
    """The error for a call that got no response; a refused address is not retried."""
    if isinstance(exc, Forbidden):
        return TargetError(f"{what} refused: {exc.message}")
    if isinstance(exc, httpx.TimeoutException):
        return TargetError(f"{what} timed out ({type(exc).__name__})", retryable=True)
    return TargetError(f"{what} connection error: {exc or type(exc).__name__}", retryable=True)


def decode(response: httpx.Response, what: str) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise TargetError(f"{what} did not return JSON: {response.text[:200]!r}") from None


class HttpTarget:
    """POSTs (or GETs, …) a body filled from each item and reads the output from the response."""

    kind = "http"

    def __init__(
        self,
        url: str,
        *,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        body: Any = None,
        output_path: str | None = None,
        timeout: float = 30.0,
        secret_headers: dict[str, str] | None = None,
        source: dict[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        outbound: Policy | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"target.url: not an http(s) URL: {url!r}", field="target.url")
        self.url = url
        self.method = method.upper()
        self.headers = dict(headers or {})
        self.secret_headers = dict(secret_headers or {})
        self.body = body
        self.output_path = output_path
        self.timeout = timeout
        self.source = dict(source) if source else None  # the saved endpoint it came from
        if isinstance(body, str):
            check(body, "target.body")
        check(url, "target.url")
        self._transport = transport
        self._outbound = outbound or active()
        self._client: httpx.AsyncClient | None = None

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "type": "http",
            "url": self.url,
            "method": self.method,
            "headers": self.headers,
            "body": self.body,
            "output_path": self.output_path,
            "timeout": self.timeout,
        }
        if self.secret_headers:  # names only: values are never stored with the experiment
            spec["secret_headers"] = sorted(self.secret_headers)
        if self.source:
            spec["source"] = self.source
        return spec

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = async_client(
                self._outbound, timeout=self.timeout, transport=self._transport
            )
        return self._client

    async def call(self, item: WorkItem) -> TargetOutput:
        values = variables(item)
        try:
            url = str(render_json(self.url, values))
            kwargs: dict[str, Any] = {"headers": {**self.headers, **self.secret_headers}}
            if self.body is not None:
                rendered = render_json(self.body, values)
                if isinstance(rendered, str):
                    kwargs["content"] = rendered.encode()
                    kwargs["headers"].setdefault("content-type", "application/json")
                else:
                    kwargs["json"] = rendered
        except RenderError as exc:
            raise TargetError(str(exc)) from None
        what = f"{self.method} {self.url}"
        try:
            response = await self.client.request(self.method, url, **kwargs)
        except (httpx.HTTPError, Forbidden) as exc:
            raise transport_error(exc, what) from None
        if response.status_code >= 300:
            raise classify(response, what)
        payload = decode(response, what) if response.content else None
        try:
            output = extract(payload, self.output_path)
        except RenderError as exc:
            raise TargetError(str(exc)) from None
        sent = {"method": self.method, "url": url}  # secret headers stay out of the trace
        if self.body is not None:
            sent["body"] = kwargs.get("json", kwargs.get("content", b"").decode(errors="replace"))
        return TargetOutput(output=output, request=sent)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
