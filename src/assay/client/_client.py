"""What ``Assay`` and ``AsyncAssay`` share: their arguments, configuration and namespaces."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

import httpx

from assay.client._base import Call, ClientConfig
from assay.client._methods import Download, M
from assay.client._namespaces import (
    DatasetRuns,
    Datasets,
    Endpoints,
    Evaluators,
    Experiments,
    Prompts,
    Scores,
    Traces,
)
from assay.client._online import OnlineRules

H = TypeVar("H", httpx.Client, httpx.AsyncClient)


class ClientBase(Generic[H, M]):
    """A client over the HTTP client ``H`` whose namespaces are in mode ``M``."""

    _awaits: ClassVar[bool]

    def __init__(
        self,
        base_url: str | None = None,
        *,
        public_key: str | None = None,
        secret_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        http_client: H | None = None,
    ) -> None:
        self.config = ClientConfig.build(
            base_url,
            public_key,
            secret_key,
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
        )
        self._owns_http = http_client is None
        self._http: H = http_client or self._new_http()
        self._backoff = self.config.backoff()
        self.datasets: Datasets[M] = Datasets(self)
        self.prompts: Prompts[M] = Prompts(self)
        self.endpoints: Endpoints[M] = Endpoints(self)
        self.traces: Traces[M] = Traces(self)
        self.experiments: Experiments[M] = Experiments(self)
        self.dataset_runs: DatasetRuns[M] = DatasetRuns(self)
        self.evaluators: Evaluators[M] = Evaluators(self)
        self.scores: Scores[M] = Scores(self)
        self.online_rules: OnlineRules[M] = OnlineRules(self)

    def _new_http(self) -> H:
        """The HTTP client made when none is given."""
        raise NotImplementedError

    def _run(self, call: Call[Any]) -> Any:
        """Send ``call`` and parse its answer (awaitable on the async client)."""
        raise NotImplementedError

    def _download(self, download: Download) -> Any:
        """Stream the answer into ``download.out``; the bytes written (awaitable likewise)."""
        raise NotImplementedError

    def _request(self, call: Call[Any]) -> httpx.Request:
        """``call`` as a request of this client's HTTP client."""
        return self._http.build_request(
            call.method,
            self.config.base_url + call.path,
            headers=call.headers(self.config.headers),
            **call.request_kwargs(),
        )
