"""A real ``python -m assay serve`` process, driven over HTTP as the seed docs show."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assay.client import Assay
from assay.errors import Unauthorized

pytestmark = pytest.mark.e2e

SEED_ITEMS = [
    {
        "input": {"query": "How do I reset my password?"},
        "expected_output": {"answer": "Go to Settings > Security > Reset Password"},
    },
    {
        "input": {"query": "What are your pricing plans?"},
        "expected_output": {"answer": "We offer Free, Pro, and Enterprise plans"},
    },
    {
        "input": {"query": "How do I contact support?"},
        "expected_output": {"answer": "Email support@example.com or use the in-app chat"},
    },
]


STARTUP = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assay(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assay", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {**os.environ, "ASSAY_HOME": str(tmp_path / "home"), "ASSAY_AUTH": "none"}
    for key in ("ASSAY_DATABASE_URL", "ASSAY_PROJECT", "ASSAY_URL", "ASSAY_SECRET_KEY"):
        values.pop(key, None)
    return values


def start(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server logging to a file in ASSAY_HOME; wait until /health answers.

    A port found free can be taken by another test process before the server binds it: that
    start is tried again on another port.
    """
    for _ in range(3):
        try:
            return _start(env, free_port())
        except PortTaken:
            continue
    raise AssertionError("no free port after 3 tries")


class PortTaken(Exception):
    pass


def _start(env: dict[str, str], port: int) -> tuple[subprocess.Popen[bytes], str]:
    home = Path(env["ASSAY_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    log = home / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "assay", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP  # generous: a loaded machine is only slower
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if "address already in use" in log.read_text().lower():
                raise PortTaken
            raise AssertionError(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"server did not answer /health within {STARTUP:g} s")


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[str]:
    proc, base = start(env)
    yield base
    proc.terminate()
    proc.wait(timeout=60)


def test_seed_004_dataset_examples(server: str) -> None:
    api = f"{server}/api/v1"
    with httpx.Client(timeout=60) as http:
        created = http.post(
            f"{api}/datasets/",
            json={
                "name": "Support Agent QA",
                "description": "Test cases for the customer support agent",
                "tags": ["support", "qa"],
            },
        )
        assert created.status_code == 201
        dataset_id = created.json()["id"]

        item = http.post(
            f"{api}/datasets/{dataset_id}/items/",
            json={
                "input": {"query": "How do I reset my password?"},
                "expected_output": {"answer": "Go to Settings > Security > Reset Password"},
                "context": {"category": "account"},
            },
        )
        assert item.status_code == 201
        item_id = item.json()["id"]

        fresh = http.post(f"{api}/datasets/", json={"name": "Bulk"}).json()["id"]
        imported = http.post(f"{api}/datasets/{fresh}/import/", json={"items": SEED_ITEMS})
        assert imported.json() == {
            "dataset_id": fresh,
            "imported": 3,
            "total_items": 3,
            "version": 1,
        }

        traced = http.post(
            f"{api}/traces/",
            json={
                "traces": [
                    {
                        "id": "42",
                        "name": "support-agent",
                        "input": {"query": "Where is my invoice?"},
                        "output": {"answer": "Billing > Invoices"},
                        "metadata": {"workflow": "billing"},
                    }
                ]
            },
        )
        assert traced.status_code == 200
        captured = http.post(f"{api}/datasets/{dataset_id}/from-run/", json={"run_id": "42"})
        assert captured.status_code == 201
        assert captured.json()["context"] == {"agent_name": "support-agent", "workflow": "billing"}

        listing = http.get(f"{api}/datasets/", params={"search": "support", "tags": "qa"}).json()
        assert [d["id"] for d in listing["items"]] == [dataset_id]
        detail = http.get(f"{api}/datasets/{dataset_id}/").json()
        assert detail["item_count"] == 2
        assert len(detail["recent_items"]) == 2
        assert (
            http.put(f"{api}/datasets/{dataset_id}/", json={"description": "v2"}).json()[
                "description"
            ]
            == "v2"
        )
        items = http.get(f"{api}/datasets/{dataset_id}/items/", params={"sort": "-created_at"})
        assert len(items.json()["items"]) == 2
        assert http.get(f"{api}/datasets/{dataset_id}/items/{item_id}/").status_code == 200
        changed = http.put(
            f"{api}/datasets/{dataset_id}/items/{item_id}/", json={"context": {"category": "auth"}}
        )
        assert changed.json()["context"] == {"category": "auth"}
        assert http.delete(f"{api}/datasets/{dataset_id}/items/{item_id}/").status_code == 204
        exported = http.get(f"{api}/datasets/{fresh}/export/", params={"format": "jsonl"})
        assert [json.loads(line)["input"] for line in exported.text.splitlines()] == [
            i["input"] for i in SEED_ITEMS
        ]
        assert http.delete(f"{api}/datasets/{dataset_id}/").status_code == 204
        missing = http.get(f"{api}/datasets/{dataset_id}/")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert http.get(f"{server}/openapi.json").json()["info"]["title"] == "Assay"


def test_seed_000_python_example(server: str) -> None:
    with Assay(base_url=server) as client:
        client.datasets.create(name="trivia-set", description="Trivia QA dataset")
        client.datasets.create_items(
            dataset_name="trivia-set",
            items=[
                {"input": {"q": "Capital of Japan?"}, "expectedOutput": {"a": "Tokyo"}},
                {"input": {"q": "Speed of light?"}, "expectedOutput": {"a": "299,792,458 m/s"}},
            ],
        )
        items = client.datasets.items("trivia-set").items
        assert [i.expected_output for i in items] == [{"a": "Tokyo"}, {"a": "299,792,458 m/s"}]


def test_keys_from_the_cli_guard_the_server(env: dict[str, str]) -> None:
    created = assay(env, "keys", "create", "--project", "team", "--name", "ci", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    listed = assay(env, "keys", "list", "--project", "team", "--json")
    assert [k["public_key"] for k in json.loads(listed.stdout)] == [key["public_key"]]
    assert "sk-" not in listed.stdout

    proc, base = start({**env, "ASSAY_AUTH": "keys"})
    try:
        assert httpx.get(f"{base}/api/v1/datasets/").status_code == 401
        client = Assay(base_url=base, public_key=key["public_key"], secret_key=key["secret_key"])
        assert client.project().name == "team"
        client.datasets.create("team-set")
        revoked = assay(env, "keys", "revoke", key["public_key"], "--project", "team")
        assert revoked.returncode == 0, revoked.stderr
        with pytest.raises(Unauthorized):
            client.datasets.list()
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_refuses_public_bind_without_auth(env: dict[str, str]) -> None:
    result = assay(env, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode != 0
    assert "refusing to listen on 0.0.0.0 without authentication" in result.stderr


def test_serve_without_the_server_extra(env: dict[str, str]) -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None; sys.modules['uvicorn'] = None; "
        "sys.argv = ['assay', 'serve']; from assay.cli.main import main; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "pip install 'assay[server]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
