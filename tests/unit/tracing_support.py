"""A fake trace server for the SDK's tracing tests: it stores ingested traces the way the
real one does (idempotently by id: a repeated id updates the record) and can be told to fail."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from assay.client import Assay

BASE = "http://assay.test"


class FakeTraceServer:
    def __init__(self) -> None:
        self.traces: dict[str, dict[str, Any]] = {}
        self.observations: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.fail: Callable[[], httpx.Response | None] = lambda: None
        self.store_then_fail: httpx.Response | None = None  # stored, but the answer is lost
        self.lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests += 1
            failure = self.fail()
            if failure is not None:
                return failure
            body = json.loads(request.content)
            for trace in body["traces"]:
                observations = trace.pop("observations", [])
                self.traces.setdefault(trace["id"], {}).update(trace)
                for obs in observations:
                    self.observations.setdefault(obs["id"], {"trace_id": trace["id"]}).update(obs)
            if self.store_then_fail is not None:
                return self.store_then_fail
            return httpx.Response(
                200,
                json={
                    "created": 0,
                    "updated": 0,
                    "observations": 0,
                    "trace_ids": [t["id"] for t in body["traces"]],
                },
            )

    def client(self, journal: Path, **tracing: Any) -> Assay:
        http = httpx.Client(transport=httpx.MockTransport(self.handle), base_url=BASE)
        client = Assay(base_url=BASE, http_client=http, max_retries=0, retry_backoff=0)
        options = {"flush_interval": 3600.0, "journal_dir": journal, **tracing}
        client.configure_tracing(**options)
        return client


def down(status: int = 503) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(status, json={"error": {"code": "x", "message": "down"}})


def refused() -> httpx.Response:
    raise httpx.ConnectError("connection refused")
