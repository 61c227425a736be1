"""The asynchronous client: the same namespaces and calls as ``Assay``, awaited."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, BinaryIO, TypeVar

import httpx

from assay.client import _calls as calls
from assay.client._base import (
    Call,
    ClientConfig,
    ErrorResponse,
    error_for,
    retry_rule,
)
from assay.client._calls import FileLike, ItemLike
from assay.client._online import AsyncOnlineRules
from assay.client._runs_async import (
    AsyncDatasetRuns,
    AsyncEvaluators,
    AsyncExperiments,
    AsyncScores,
)
from assay.client._tracing import AsyncTracing
from assay.domain import (
    Dataset,
    DatasetDetail,
    DatasetDiff,
    DatasetVersion,
    Endpoint,
    ImportResult,
    Item,
    ItemsSignal,
    Page,
    Project,
    Prompt,
    RunPlan,
    SessionSummary,
    TraceDetail,
    TraceIngestResult,
    TracePage,
    TraceQuery,
)
from assay.domain.trace_items import FromTracesResult
from assay.retrying import retry_call_async

T = TypeVar("T")


class AsyncAssay(AsyncTracing):
    """Async REST client for an Assay server.

    ``http_client`` lets tests and proxies supply their own ``httpx.AsyncClient`` (for example one
    wired to an in-process app); otherwise one is created for ``base_url``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        public_key: str | None = None,
        secret_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        http_client: httpx.AsyncClient | None = None,
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
        self._http = http_client or httpx.AsyncClient(
            base_url=self.config.base_url, timeout=self.config.timeout
        )
        self._backoff = self.config.backoff()
        self.datasets = AsyncDatasets(self)
        self.prompts = AsyncPrompts(self)
        self.endpoints = AsyncEndpoints(self)
        self.traces = AsyncTraces(self)
        self.experiments = AsyncExperiments(self)
        self.dataset_runs = AsyncDatasetRuns(self)
        self.evaluators = AsyncEvaluators(self)
        self.scores = AsyncScores(self)
        self.online_rules = AsyncOnlineRules(self)

    async def _run(self, call: Call[T]) -> T:
        response = await self._send(call, stream=False)
        return call.parse(response)

    async def _send(self, call: Call[T], *, stream: bool) -> httpx.Response:
        """Send ``call``, retrying what may be retried; the response is checked for errors.

        With ``stream`` the body is not read yet: the caller must read or close it.
        """

        async def attempt(_number: int) -> httpx.Response:
            request = self._http.build_request(
                call.method,
                self.config.base_url + call.path,
                headers=call.headers(self.config.headers),
                **call.request_kwargs(),
            )
            response = await self._http.send(request, stream=stream)
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


class AsyncDatasets:
    def __init__(self, client: AsyncAssay) -> None:
        self._c = client

    async def create(
        self,
        name: str,
        description: str | None = None,
        *,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        input_schema: Mapping[str, Any] | None = None,
        expected_output_schema: Mapping[str, Any] | None = None,
    ) -> Dataset:
        return await self._c._run(
            calls.dataset_create(
                name, description, tags, metadata, input_schema, expected_output_schema
            )
        )

    async def get(self, dataset: str) -> DatasetDetail:
        """A dataset by id or name, with its most recent items."""
        return await self._c._run(calls.dataset_get(dataset))

    async def list(
        self,
        *,
        search: str | None = None,
        tag: str | None = None,
        sort: str = "-created_at",
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Dataset]:
        return await self._c._run(calls.dataset_list(search, tag, sort, limit, cursor))

    async def update(self, dataset: str, **changes: Any) -> Dataset:
        return await self._c._run(calls.dataset_update(dataset, changes))

    async def delete(self, dataset: str) -> None:
        await self._c._run(calls.dataset_delete(dataset))

    async def create_item(self, dataset: str, item: ItemLike) -> Item:
        return await self._c._run(calls.item_create(dataset, item))

    async def create_items(self, dataset_name: str, items: Sequence[ItemLike]) -> ImportResult:
        """Add items (``input``, ``expected_output`` / ``expectedOutput``, …) as one version."""
        return await self._c._run(calls.items_create(dataset_name, items))

    async def items(
        self,
        dataset: str,
        *,
        version: int | None = None,
        search: str | None = None,
        tag: str | None = None,
        sort: str = "sort_order",
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Item]:
        return await self._c._run(
            calls.item_list(dataset, version, search, tag, sort, limit, cursor)
        )

    async def get_item(self, dataset: str, item_id: str, *, version: int | None = None) -> Item:
        return await self._c._run(calls.item_get(dataset, item_id, version))

    async def update_item(self, dataset: str, item_id: str, **changes: Any) -> Item:
        return await self._c._run(calls.item_update(dataset, item_id, changes))

    async def delete_item(self, dataset: str, item_id: str) -> None:
        await self._c._run(calls.item_delete(dataset, item_id))

    async def import_(
        self,
        dataset: str,
        *,
        items: Sequence[ItemLike] | None = None,
        file: FileLike | None = None,
        format: str | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> ImportResult:
        """Append ``items`` or a CSV/JSON/JSONL ``file`` as one new version, all or nothing."""
        if (items is None) == (file is None):
            raise ValueError("give either items or file")
        if items is not None:
            return await self._c._run(calls.import_items(dataset, items))
        assert file is not None
        return await self._c._run(calls.import_file(dataset, file, format, mapping))

    async def from_run(self, dataset: str, run_id: str) -> Item:
        """Turn a recorded trace into an item of ``dataset``."""
        return await self._c._run(calls.item_from_run(dataset, run_id))

    async def from_traces(
        self,
        dataset: str,
        *,
        trace_ids: Sequence[str] | None = None,
        filter: Mapping[str, Any] | None = None,
        mapping: Mapping[str, Any] | None = None,
        limit: int = 1000,
        message: str | None = None,
    ) -> FromTracesResult:
        """Add recorded traces (by id and/or ``filter``) to ``dataset`` as one new version.

        ``mapping`` says where each item field comes from, e.g. ``{"input": {"span":
        "retrieve", "field": "input"}, "expected_output": {"field": "output"}}``; a trace
        already in the dataset is not added again.
        """
        return await self._c._run(
            calls.items_from_traces(dataset, trace_ids, filter, mapping, limit, message)
        )

    async def plan(
        self,
        dataset: str,
        *,
        pilot: str | None = None,
        items: int | None = None,
        trials: int | None = None,
        difference: float | None = None,
        power: float = 0.8,
        alpha: float = 0.05,
        model: str | None = None,
        concurrency: int | None = None,
        metrics: Sequence[str] | None = None,
    ) -> RunPlan:
        """The next run of ``dataset``: per metric the minimum detectable difference at
        ``items`` x ``trials``, the items or trials ``difference`` needs (points for pass
        rates), and the estimated cost and time, from its finished runs or from ``pilot``."""
        params = {
            "pilot": pilot,
            "items": items,
            "trials": trials,
            "difference": difference,
            "power": power,
            "alpha": alpha,
            "model": model,
            "concurrency": concurrency,
            "metric": None if metrics is None else list(metrics),
        }
        return await self._c._run(calls.dataset_plan(dataset, params))

    async def item_signal(
        self,
        dataset: str,
        *,
        metric: str = "pass_rate",
        last: int = 20,
        method: str = "auto",
        threshold: float | None = None,
        min_items: int = 30,
        alpha: float = 0.05,
    ) -> ItemsSignal:
        """Which items of ``dataset`` separate its runs, its near-duplicate inputs, and the
        smallest subset found that keeps every consecutive pair of runs' verdict."""
        params = {
            "metric": metric,
            "last": last,
            "method": method,
            "threshold": threshold,
            "min_items": min_items,
            "alpha": alpha,
        }
        return await self._c._run(calls.dataset_item_signal(dataset, params))

    async def versions(self, dataset: str) -> builtins.list[DatasetVersion]:
        return await self._c._run(calls.dataset_versions(dataset))

    async def diff(
        self, dataset: str, from_version: int, to_version: int | None = None
    ) -> DatasetDiff:
        return await self._c._run(calls.dataset_diff(dataset, from_version, to_version))

    async def export(
        self,
        dataset: str,
        *,
        format: str = "jsonl",
        version: int | None = None,
    ) -> bytes:
        """The items as CSV, JSON or JSONL bytes (``export_to`` streams into a file)."""
        return await self._c._run(calls.dataset_export(dataset, format, version))

    async def export_to(
        self,
        dataset: str,
        out: BinaryIO,
        *,
        format: str = "jsonl",
        version: int | None = None,
    ) -> int:
        """Stream the export into ``out`` chunk by chunk; returns the bytes written."""
        response = await self._c._send(calls.dataset_export(dataset, format, version), stream=True)
        written = 0
        try:
            async for chunk in response.aiter_bytes():
                out.write(chunk)
                written += len(chunk)
        finally:
            await response.aclose()
        return written


class AsyncPrompts:
    def __init__(self, client: AsyncAssay) -> None:
        self._c = client

    async def create(
        self,
        name: str,
        *,
        template: str | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        model_config: Mapping[str, Any] | None = None,
        labels: Sequence[str] | None = None,
    ) -> Prompt:
        """Store the next version of ``name``."""
        return await self._c._run(
            calls.prompt_create(name, template, messages, model_config, labels)
        )

    async def get(
        self, name: str, *, version: int | None = None, label: str | None = None
    ) -> Prompt:
        return await self._c._run(calls.prompt_get(name, version, label))

    async def list(
        self, *, search: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[Prompt]:
        return await self._c._run(calls.prompt_list(search, limit, cursor))

    async def versions(self, name: str) -> builtins.list[Prompt]:
        return await self._c._run(calls.prompt_versions(name))

    async def set_labels(self, name: str, version: int, labels: Sequence[str]) -> Prompt:
        return await self._c._run(calls.prompt_set_labels(name, version, labels))


class AsyncEndpoints:
    def __init__(self, client: AsyncAssay) -> None:
        self._c = client

    async def create(self, name: str, url: str, **fields: Any) -> Endpoint:
        """Save an endpoint; ``secret_headers`` are stored but never returned."""
        return await self._c._run(calls.endpoint_create({"name": name, "url": url, **fields}))

    async def get(self, endpoint: str) -> Endpoint:
        return await self._c._run(calls.endpoint_get(endpoint))

    async def list(
        self, *, search: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[Endpoint]:
        return await self._c._run(calls.endpoint_list(search, limit, cursor))

    async def update(self, endpoint: str, **changes: Any) -> Endpoint:
        return await self._c._run(calls.endpoint_update(endpoint, changes))

    async def delete(self, endpoint: str) -> None:
        await self._c._run(calls.endpoint_delete(endpoint))


class AsyncTraces:
    def __init__(self, client: AsyncAssay) -> None:
        self._c = client

    async def ingest(self, traces: Sequence[ItemLike]) -> TraceIngestResult:
        """Send traces with their observations; safe to retry (idempotent by id)."""
        return await self._c._run(calls.trace_ingest(traces))

    async def get(self, trace_id: str) -> TraceDetail:
        return await self._c._run(calls.trace_get(trace_id))

    async def list(
        self,
        *,
        search: str | None = None,
        name: str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        tag: str | None = None,
        tags: Sequence[str] = (),
        model: str | None = None,
        errors: bool = False,
        score_name: str | None = None,
        score_min: float | None = None,
        score_max: float | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TracePage:
        """Traces, newest first, with their totals and scores; every filter given must hold
        (``tags``: all of them; ``model``: a generation used it; ``errors``: only traces with
        an error; ``score_min``/``score_max`` bound the score ``score_name``)."""
        where = TraceQuery(
            search=search,
            name=name,
            session_id=session_id,
            user_id=user_id,
            tags=[*tags, *([tag] if tag else [])],
            model=model,
            errors=errors,
            score_name=score_name,
            score_min=score_min,
            score_max=score_max,
            since=since,
            until=until,
        )
        return await self._c._run(calls.trace_list(where, limit, cursor))

    async def sessions(
        self,
        *,
        search: str | None = None,
        user_id: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[SessionSummary]:
        """Sessions (traces sharing a session id), the latest active first, with totals."""
        return await self._c._run(calls.session_list(search, user_id, limit, cursor))
