"""Server-side request forgery: a URL a tenant names never reaches the server's network.

The check runs on the rendered URL (every connection is checked), on judge base URLs, on
every address a name resolves to, and the connection goes to the address that was checked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient

from assay.config import Settings
from assay.domain import DatasetCreate, EndpointCreate, ItemCreate, WorkItem
from assay.errors import Forbidden, InvalidInput
from assay.outbound import Policy, async_client, server_policy
from assay.service.targets import build_target
from assay.store import Store
from assay.targets import TargetError
from assay.targets.http import HttpTarget
from tests.fakes.provider import FakeProvider
from tests.integration.experiment_support import run_worker

PUBLIC = "93.184.215.14"
NAMES = {
    "localhost": ["127.0.0.1"],
    "localtest.me": ["127.0.0.1"],
    "inside.example": ["10.0.0.7"],
    "six.example": ["::1"],
    "mixed.example": [PUBLIC, "10.0.0.7"],
}


def resolver(host: str, port: int) -> Sequence[str]:
    return NAMES.get(host.lower(), [PUBLIC])


#: URLs that must never be called: internal hosts in every spelling a parser accepts.
CORPUS = [
    "http://127.0.0.1/",
    "http://127.0.0.1./",
    "http://127.1/",
    "http://127.000.000.001/",
    "http://0/",
    "http://0.0.0.0:8080/",
    "http://2130706433/",
    "http://2130706433:80/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0x7f.0.0.1/",
    "http://017700000001/",
    "http://0177.0.0.1/",
    "http://%31%32%37.0.0.1/",
    "http://LOCALHOST/",
    "http://localhost:22/",
    "http://localtest.me/",
    "http://inside.example/",
    "http://six.example/",
    "http://mixed.example/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/",
    "http://[::ffff:0:a9fe:a9fe]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://[2002:0a00:0001::]/",
    "http://[64:ff9b::127.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b:1::a00:1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd00:ec2::254]/",
    "http://[ff02::1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://100.100.100.200/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/computeMetadata/v1/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",
    "http://198.18.0.1/",
    "http://192.0.0.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://user:pass@127.0.0.1/",
    "http://public.example@127.0.0.1/",
    "http://127.0.0.1#@public.example/",
    "http://127.0.0.1:80?@public.example/",
    "https://[::1]:443/",
    "ftp://public.example/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
]

#: Public hosts, in the same spellings, still reachable.
PUBLIC_URLS = [
    "https://api.openai.com/v1",
    f"http://{PUBLIC}/",
    "http://[2606:4700::1111]/",
    "http://[64:ff9b::808:808]/",  # NAT64 of a public address
    "http://[2002:808:808::]/",  # 6to4 of a public address
    "http://user@public.example/",
]


def refused(url: str, policy: Policy) -> bool:
    try:
        policy.check_url(url, resolver)
    except (Forbidden, InvalidInput):
        return True
    return False


def test_every_internal_spelling_is_refused() -> None:
    let_through = [url for url in CORPUS if not refused(url, Policy())]
    assert let_through == []
    assert [url for url in PUBLIC_URLS if refused(url, Policy())] == []


def test_the_connection_is_refused_too() -> None:
    """The same corpus through the guarded client: nothing is connected to."""

    async def attempt(url: str) -> bool:
        async with async_client(Policy(), timeout=2, resolve=resolver) as client:
            try:
                await client.get(url)
            except (Forbidden, InvalidInput, httpx.UnsupportedProtocol, httpx.InvalidURL):
                return True
            except httpx.HTTPError:
                return False  # it tried to connect
        return False

    import asyncio

    results = asyncio.run(_all(attempt, CORPUS))
    assert [url for url, ok in zip(CORPUS, results, strict=True) if not ok] == []


async def _all(attempt, urls):  # type: ignore[no-untyped-def]
    return [await attempt(url) for url in urls]


def test_allow_list_and_keyless_loopback() -> None:
    allowed = Policy(("10.0.0.0/8", "gateway.internal"))
    assert not refused("http://10.2.3.4/", allowed)
    assert refused("http://127.0.0.1/", allowed)
    keyless = server_policy(Settings(auth="none"))
    assert not refused("http://127.0.0.1:8000/", keyless)
    assert not refused("http://[::1]:8000/", keyless)
    assert refused("http://169.254.169.254/", keyless)  # metadata: refused, keys or not
    assert refused("http://10.0.0.1/", keyless)
    assert refused("http://127.0.0.1/", server_policy(Settings(auth="keys")))


# ---------------------------------------------------------------- the rendered URL


def item(**values: str) -> WorkItem:
    return WorkItem(result_id="r", item_id="i", repetition=0, input=values, expected_output=None)


async def test_a_rendered_url_cannot_reach_inside(fake: FakeProvider) -> None:
    host = fake.url.removeprefix("http://")
    target = HttpTarget(
        "http://{{ p }}@public.example/echo",
        secret_headers={"x-internal-token": "s3cret"},
        outbound=Policy(),
    )
    try:
        with pytest.raises(TargetError, match="internal address"):
            await target.call(item(p=f"{host}/echo?"))
    finally:
        await target.aclose()
    assert fake.requests == []


def test_endpoint_template_rendered_inside_sends_nothing(
    tenant: TestClient, store: Store, keyed_app: object, fake: FakeProvider
) -> None:
    """Saved with a public-looking URL, rendered to the fake on loopback, run by the worker."""
    host = fake.url.removeprefix("http://")
    dataset = store.datasets.create(DatasetCreate(name="probe"))
    store.datasets.add_items(dataset.id, [ItemCreate(input={"p": f"{host}/echo?"})])
    saved = tenant.post(
        "/api/v1/endpoints/",
        json={
            "name": "agent",
            "url": "http://{{ p }}@public.example/echo",
            "secret_headers": {"x-internal-token": "s3cret"},
        },
    )
    assert saved.status_code == 201, saved.text
    config = {"endpoint_id": saved.json()["id"]}
    body = {"name": "probe", "dataset_id": dataset.id, "config": config}
    created = tenant.post("/api/v1/experiments/", json=body)
    assert created.status_code == 201, created.text
    assert tenant.post(f"/api/v1/experiments/{created.json()['id']}/start/").status_code == 200
    run_worker(store, keyed_app.state.assay.settings)  # type: ignore[attr-defined]
    results = tenant.get(f"/api/v1/experiments/{created.json()['id']}/results/").json()
    assert "internal address" in results["results"][0]["error"]
    assert fake.requests == []


# ---------------------------------------------------------------- judges


@pytest.mark.parametrize(
    "base_url",
    ["http://169.254.169.254/v1", "http://[2002:a9fe:a9fe::]/v1", "http://metadata/v1"],
)
def test_judge_base_url_is_checked_when_saved(http: TestClient, base_url: str) -> None:
    body = {"name": "judge", "kind": "llm_judge", "params": {"model": "m", "base_url": base_url}}
    saved = http.post("/api/v1/evaluators/", json=body)
    assert saved.status_code == 422, saved.text
    error = saved.json()["error"]
    assert error["details"]["field"] == "params.base_url"
    assert "internal address" in error["message"] or "metadata" in error["message"]


def test_judge_on_loopback_is_refused_only_with_keys(
    tenant: TestClient, http: TestClient, fake: FakeProvider
) -> None:
    body = {"kind": "llm_judge", "params": {"model": "m", "base_url": fake.openai_url}}
    assert http.post("/api/v1/evaluators/", json={"name": "local", **body}).status_code == 201
    refused_ = tenant.post("/api/v1/evaluators/", json={"name": "local", **body})
    assert refused_.status_code == 422
    assert refused_.json()["error"]["details"]["field"] == "params.base_url"


def test_prompt_base_url_is_checked_with_keys(tenant: TestClient, store: Store, qa: str) -> None:
    body = {
        "name": "x",
        "dataset_id": qa,
        "config": {
            "prompt_name": "support-system-prompt",
            "model": "m",
            "base_url": "http://[64:ff9b::a9fe:a9fe]/v1",
        },
    }
    refused_ = tenant.post("/api/v1/experiments/", json=body)
    assert refused_.status_code == 422, refused_.text
    assert refused_.json()["error"]["details"]["field"] == "target.base_url"


# ---------------------------------------------------------------- DNS rebinding and pinning


async def test_rebinding_between_check_and_connection_is_refused(fake: FakeProvider) -> None:
    port = int(fake.url.rsplit(":", 1)[1])
    answers = iter([[PUBLIC], ["127.0.0.1"]])

    def rebinding(host: str, _port: int) -> Sequence[str]:
        return next(answers)

    policy = Policy()
    policy.screen_url(f"http://rebind.example:{port}/echo", rebinding)  # looks public
    async with async_client(policy, timeout=5, resolve=rebinding) as client:
        with pytest.raises(Forbidden):
            await client.post(f"http://rebind.example:{port}/echo", json={})
    assert fake.requests == []


async def test_the_checked_address_is_the_one_connected_to(fake: FakeProvider) -> None:
    """Resolved once, checked, connected by address; the Host header keeps the name."""
    port = int(fake.url.rsplit(":", 1)[1])
    lookups: list[str] = []

    def once(host: str, _port: int) -> Sequence[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    policy = Policy(("model.internal.test",))
    async with async_client(policy, timeout=5, resolve=once) as client:
        response = await client.post(f"http://model.internal.test:{port}/echo", json={"a": 1})
    assert response.status_code == 200
    assert lookups == ["model.internal.test"]
    (request,) = fake.requests
    host = {k.lower(): v for k, v in request.headers.items()}["host"]
    assert host == f"model.internal.test:{port}"


# ---------------------------------------------------------------- redirects


class _Redirect(BaseHTTPRequestHandler):
    location = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("location", self.location)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def redirector(fake: FakeProvider) -> Iterator[int]:
    """A server that redirects every GET to the fake provider (on loopback)."""
    handler = type("Redirect", (_Redirect,), {"location": f"{fake.url}/echo"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


async def test_redirects_are_not_followed_inside(fake: FakeProvider, redirector: int) -> None:
    policy = Policy(("public.test",))  # the redirecting host is allowed; loopback is not

    def names(host: str, _port: int) -> Sequence[str]:
        return ["127.0.0.1"]

    async with async_client(policy, timeout=5, resolve=names) as client:
        first = await client.get(f"http://public.test:{redirector}/")
        assert first.status_code == 302  # not followed by default
        with pytest.raises(Forbidden):
            await client.get(f"http://public.test:{redirector}/", follow_redirects=True)
    assert fake.requests == []


def test_server_targets_carry_the_policy(store: Store, fake: FakeProvider) -> None:
    settings = Settings(auth="keys")
    saved = store.endpoints.create(EndpointCreate(name="e", url="http://{{ host }}/x"))
    target = build_target(store, settings, {"endpoint_id": saved.id})
    assert isinstance(target, HttpTarget)
    assert target._outbound == server_policy(settings)
