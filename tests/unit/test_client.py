"""The SDK client against a fake transport: errors, retries, credentials, paths."""

from __future__ import annotations

import base64
import inspect
from collections.abc import Callable

import httpx
import pytest

from assay.client import Assay, AsyncAssay
from assay.errors import AssayError, Conflict, InvalidInput, NotFound, StorageError

DATASET = {
    "id": "d1",
    "project_id": "p1",
    "name": "qa",
    "description": None,
    "tags": [],
    "metadata": {},
    "input_schema": None,
    "expected_output_schema": None,
    "version": 0,
    "item_count": 0,
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
}


def error(status: int, code: str, message: str, **details: object) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": message, "details": details}}
    )


def client_for(handler: Callable[[httpx.Request], httpx.Response], **kwargs: object) -> Assay:
    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://assay.test")
    return Assay(base_url="http://assay.test", http_client=http, retry_backoff=0, **kwargs)  # type: ignore[arg-type]


def test_envelope_becomes_the_matching_error() -> None:
    responses = iter(
        [
            error(404, "not_found", "dataset 'x' not found", field="dataset"),
            error(409, "conflict", "exists", field="name"),
            error(
                422, "invalid_input", "items.1.input: Field required", field="items.1.input", row=2
            ),
            error(418, "teapot", "odd"),
        ]
    )
    client = client_for(lambda request: next(responses))
    with pytest.raises(NotFound) as nf:
        client.datasets.get("x")
    assert nf.value.details == {"field": "dataset", "status": 404}
    with pytest.raises(Conflict):
        client.datasets.create("qa")
    with pytest.raises(InvalidInput) as invalid:
        client.datasets.import_("qa", items=[{"input": "x"}])
    assert (invalid.value.field, invalid.value.row) == ("items.1.input", 2)
    with pytest.raises(AssayError) as other:
        client.datasets.list()
    assert other.value.message == "odd"


def test_idempotent_calls_retry_on_5xx_and_connection_errors() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(calls) == 2:
            return error(503, "storage_unavailable", "busy")
        return httpx.Response(200, json={**DATASET, "recent_items": []})

    client = client_for(handler, max_retries=3)
    assert client.datasets.get("qa").name == "qa"
    assert calls == ["GET", "GET", "GET"]


def test_retries_give_up_and_post_is_not_retried() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return error(503, "storage_unavailable", "busy")

    client = client_for(handler, max_retries=2)
    with pytest.raises(StorageError):
        client.datasets.get("qa")
    assert calls == ["GET"] * 3
    calls.clear()
    with pytest.raises(StorageError):
        client.datasets.create("qa")
    assert calls == ["POST"]
    calls.clear()
    with pytest.raises(StorageError):
        client.traces.ingest([{"name": "t"}])  # idempotent by id: retried
    assert calls == ["POST"] * 3


def test_trace_ingest_assigns_ids_so_retries_cannot_duplicate() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        if len(bodies) == 1:
            return error(502, "internal", "bad gateway")
        return httpx.Response(
            200, json={"created": 1, "updated": 0, "observations": 0, "trace_ids": ["x"]}
        )

    client_for(handler).traces.ingest([{"name": "t"}])
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]
    assert b'"id"' in bodies[0]


def test_credentials_and_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    monkeypatch.setenv("ASSAY_PUBLIC_KEY", "pk-1")
    monkeypatch.setenv("ASSAY_SECRET_KEY", "sk-1")
    client_for(handler).datasets.delete("Support QA/v2")
    request = seen[-1]
    assert request.url.raw_path == b"/api/v1/datasets/Support%20QA%2Fv2/"
    expected = base64.b64encode(b"pk-1:sk-1").decode()
    assert request.headers["authorization"] == f"Basic {expected}"

    monkeypatch.delenv("ASSAY_PUBLIC_KEY")
    client_for(handler).datasets.delete("x")
    assert seen[-1].headers["authorization"] == "Bearer sk-1"


def test_unexpected_response_shape_is_an_error() -> None:
    client = client_for(lambda request: httpx.Response(200, json={"nope": 1}))
    with pytest.raises(AssayError, match="unexpected response"):
        client.datasets.create("qa")


async def test_async_client_retries_and_raises() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) == 1:
            return error(500, "internal", "boom")
        return error(404, "not_found", "missing")

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://a.test")
    client = AsyncAssay(base_url="http://a.test", http_client=http, retry_backoff=0)
    with pytest.raises(NotFound):
        await client.datasets.get("x")
    assert calls == ["GET", "GET"]
    await http.aclose()


def namespace_methods(client: object) -> dict[str, Callable[..., object]]:
    """Every public method of the client's namespaces, as ``"datasets.get"``."""
    found: dict[str, Callable[..., object]] = {}
    for space, namespace in vars(client).items():
        if space.startswith("_") or space == "config":
            continue
        for name in dir(type(namespace)):
            if not name.startswith("_"):
                found[f"{space}.{name}"] = getattr(namespace, name)
    return found


def test_both_clients_have_each_method_with_its_signature_and_docstring() -> None:
    blocking = namespace_methods(Assay(base_url="http://a.test"))
    awaiting = namespace_methods(AsyncAssay(base_url="http://a.test"))
    assert blocking.keys() == awaiting.keys()
    assert {"datasets.export_to", "dataset_runs.create_items", "online_rules.enable"} <= set(
        blocking
    )
    for name, method in blocking.items():
        signature = inspect.signature(method)
        assert signature == inspect.signature(awaiting[name]), name
        assert not any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values()), name
        assert method.__doc__ == awaiting[name].__doc__, name
        assert not inspect.iscoroutinefunction(method), name
        assert inspect.iscoroutinefunction(awaiting[name]), name
    export_to = blocking["datasets.export_to"]
    assert str(inspect.signature(export_to)) == (
        "(dataset: 'str', out: 'BinaryIO', *, format: 'str' = 'jsonl', "
        "version: 'int | None' = None) -> 'int'"
    )
    assert export_to.__qualname__ == "Datasets.export_to"
    assert inspect.getdoc(blocking["datasets.get"]) == (
        "A dataset by id or name, with its most recent items."
    )
