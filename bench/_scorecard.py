"""The scorecard's harness: records, settings and the helpers its cases share."""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
RESULTS = ROOT / "bench" / "results" / "reliability.json"
for _path in (str(ROOT), str(SRC)):  # this tree's assay, and the test fakes
    if _path not in sys.path:
        sys.path.insert(0, _path)

# Shared with the cases (imported from here, after the path is set).
from tests.fakes.provider import FakeProvider  # noqa: E402, F401

from _server import start_server  # noqa: E402, F401  (bench/_server.py, next to this script)

#: Words the server uses when it refuses an outbound address.
REFUSAL = re.compile(
    r"internal address|not allowed|outbound|metadata service|forbidden|refus", re.IGNORECASE
)
FINISHED = {"completed", "failed", "cancelled"}
OPENAI_KEY = "sk-scorecard-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-scorecard-0123456789"


@dataclass
class Outcome:
    """A case's figure line (after its name), its figures, and whether it met expectations."""

    text: str
    figures: dict[str, Any] = field(default_factory=dict)
    ok: bool | None = None


@dataclass(frozen=True)
class Mode:
    short: bool
    seed: int

    def pick(self, short: int | float, full: int | float) -> Any:
        return short if self.short else full


# ---------------------------------------------------------------------------------- helpers


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for an assay subprocess on ``home``: this tree's code, no stray settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSAY_")}
    env.pop("OPENAI_API_KEY", None)
    env.pop("ANTHROPIC_API_KEY", None)
    env.update(
        PYTHONPATH=os.pathsep.join([str(SRC), str(ROOT)]),
        ASSAY_HOME=str(home),
        ASSAY_QUIET="1",
        ASSAY_PROJECT="scorecard",
    )
    env.update(extra)
    return env


def python(code: str, *args: str, env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, **kw)


def assay_cli(*args: str, env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "assay", *args], env=env, text=True, **kw)


def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def p95(samples: list[float]) -> float:
    if len(samples) < 2:
        return round(samples[0], 1) if samples else 0.0
    return round(statistics.quantiles(samples, n=20, method="inclusive")[18], 1)


def store_for(home: Path, project: str = "scorecard") -> Any:
    from assay.config import Settings
    from assay.store import open_store

    return open_store(Settings(home=home), project=project)


def all_results(store: Any, experiment_id: str) -> list[Any]:
    return list(store.experiments.iter_results(experiment_id))


@contextlib.contextmanager
def api_app(home: Path, **settings: Any) -> Iterator[Any]:
    """The REST API in process (a TestClient seen as a loopback client), lifespan running."""
    from fastapi.testclient import TestClient

    from assay.config import Settings
    from assay.server import create_app

    values = {"project": "scorecard", "worker_poll_interval": 0.1, **settings}
    app = create_app(Settings(home=home, **values))
    with TestClient(
        app,
        base_url="http://127.0.0.1",
        client=("127.0.0.1", 50000),
        raise_server_exceptions=False,
        headers=CLIENT,
    ) as client:
        yield client


#: Scripts, like the SDK, say they are no web page (the server refuses writes a page could send).
CLIENT = {"X-Assay-Client": "scorecard"}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def new_key(home: Path, project: str) -> str:
    store = store_for(home, project)
    try:
        return str(store.keys.create("scorecard").secret_key)
    finally:
        store.close()


def ok_json(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"HTTP {response.status_code} {response.text[:300]}"
        )
    return response.json() if response.content else None


def wait_experiment(http: Any, experiment_id: str, timeout: float, headers: Any = None) -> Any:
    """The experiment once it has finished, or as it is when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while True:
        body = ok_json(
            http.get(
                f"/api/v1/experiments/{experiment_id}/",
                params={"runs_limit": 1000},
                headers=headers,
            )
        )
        if body["status"] in FINISHED or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


# ------------------------------------------------------------------- 2 worker takeover


def _experiment_over(http: Any, dataset: str, config: dict[str, Any], **extra: Any) -> str:
    body = {"name": f"scorecard-{uuid.uuid4().hex[:6]}", "dataset_id": dataset, "config": config}
    created = ok_json(http.post("/api/v1/experiments/", json={**body, **extra}))
    return str(created["id"])


def _dataset(http: Any, items: list[dict[str, Any]], headers: Any = None) -> str:
    name = f"scorecard-{uuid.uuid4().hex[:8]}"
    dataset = ok_json(http.post("/api/v1/datasets/", json={"name": name}, headers=headers))
    ok_json(
        http.post(
            f"/api/v1/datasets/{dataset['id']}/import/", json={"items": items}, headers=headers
        )
    )
    return str(dataset["id"])
