"""The asynchronous client: the same namespaces and calls as ``Assay``, awaited."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TypeVar

import httpx

from assay.client import _calls as calls
from assay.client._base import Call, ErrorResponse, error_for, retry_rule
from assay.client._client import ClientBase
from assay.client._methods import Awaiting, Download
from assay.client._tracing import AsyncTracing
from assay.domain import Project
from assay.retrying import retry_call_async

T = TypeVar("T")


class AsyncAssay(ClientBase[httpx.AsyncClient, Awaiting], AsyncTracing):
    """Async REST client for an Assay server.

    ``http_client`` lets tests and proxies supply their own ``httpx.AsyncClient`` (for example one
    wired to an in-process app); otherwise one is created for ``base_url``.
    """

    _awaits = True

    def _new_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.config.base_url, timeout=self.config.timeout)

    async def _run(self, call: Call[T]) -> T:
        response = await self._send(call, stream=False)
        return call.parse(response)

    async def _download(self, download: Download) -> int:
        response = await self._send(download.call, stream=True)
        written = 0
        try:
            async for chunk in response.aiter_bytes():
                download.out.write(chunk)
                written += len(chunk)
        finally:
            await response.aclose()
        return written

    async def _send(self, call: Call[T], *, stream: bool) -> httpx.Response:
        """Send ``call``, retrying what may be retried; the response is checked for errors.

        With ``stream`` the body is not read yet: the caller must read or close it.
        """

        async def attempt(_number: int) -> httpx.Response:
            response = await self._http.send(self._request(call), stream=stream)
            if response.status_code >= 400:
                await response.aread()
                await response.aclose()
                raise ErrorResponse(response)
            return response

        try:
            return await retry_call_async(attempt, self._backoff, retry_rule(call))
        except ErrorResponse as failed:
            error = error_for(failed.response)
        raise error

    async def project(self) -> Project:
        """The project these credentials belong to."""
        return await self._run(calls.project_current())

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close_tracing)
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncAssay:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
