"""The synchronous client."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

import httpx

from assay.client import _calls as calls
from assay.client._base import Call, ErrorResponse, error_for, retry_rule
from assay.client._client import ClientBase
from assay.client._methods import Blocking, Download
from assay.client._tracing import SyncTracing
from assay.domain import Project
from assay.retrying import retry_call

T = TypeVar("T")


class Assay(ClientBase[httpx.Client, Blocking], SyncTracing):
    """REST client for an Assay server.

    ``http_client`` lets tests and proxies supply their own ``httpx.Client`` (for example one
    wired to an in-process app); otherwise one is created for ``base_url``. ``trace(...)``,
    ``flush()`` and ``shutdown()`` record traces in the background (see ``docs/tracing.md``).
    """

    _awaits = False

    def _new_http(self) -> httpx.Client:
        return httpx.Client(base_url=self.config.base_url, timeout=self.config.timeout)

    def _run(self, call: Call[T]) -> T:
        response = self._send(call, stream=False)
        return call.parse(response)

    def _download(self, download: Download) -> int:
        response = self._send(download.call, stream=True)
        written = 0
        try:
            for chunk in response.iter_bytes():
                download.out.write(chunk)
                written += len(chunk)
        finally:
            response.close()
        return written

    def _send(self, call: Call[T], *, stream: bool) -> httpx.Response:
        """Send ``call``, retrying what may be retried; the response is checked for errors.

        With ``stream`` the body is not read yet: the caller must read or close it.
        """

        def attempt(_number: int) -> httpx.Response:
            response = self._http.send(self._request(call), stream=stream)
            if response.status_code >= 400:
                response.read()
                response.close()
                raise ErrorResponse(response)
            return response

        try:
            return retry_call(attempt, self._backoff, retry_rule(call))
        except ErrorResponse as failed:
            error = error_for(failed.response)
        raise error

    def project(self) -> Project:
        """The project these credentials belong to."""
        return self._run(calls.project_current())

    def close(self) -> None:
        self._close_tracing()
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Assay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
