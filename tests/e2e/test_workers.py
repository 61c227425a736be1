"""Real ``assay worker`` processes sharing one database: no item runs twice, a killed worker's
run is taken over and finished."""

from __future__ import annotations

import collections
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate, PromptCreate
from assay.server import create_app
from assay.store import open_store
from tests.fakes.provider import FakeProvider

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return {**os.environ, "ASSAY_HOME": str(home)}


def plan(home: Path, fake: FakeProvider, experiments: int, items: int, concurrency: int) -> None:
    """Create and start experiments through the API (nothing runs them in this process)."""
    settings = Settings(home=home, serve_worker=False)
    store = open_store(settings)
    dataset = store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items(
        dataset.id, [ItemCreate(input={"q": f"question {i}"}) for i in range(items)]
    )
    store.prompts.create(PromptCreate(name="p", template="{{ input.q }}"))
    store.close()
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver", headers={"X-Assay-Client": "t"}) as http:
        for n in range(experiments):
            body = {
                "name": f"run {n}",
                "dataset_id": "qa",
                "concurrency": concurrency,
                "config": {"prompt_name": "p", "model": "m", "base_url": fake.openai_url},
            }
            exp = http.post("/api/v1/experiments/", json=body).json()
            assert http.post(f"/api/v1/experiments/{exp['id']}/start/").status_code == 200
    app.state.assay.db.dispose()


def worker(env: dict[str, str], *extra: str, capture: bool = True) -> subprocess.Popen[str]:
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "assay", "worker", *extra],
        env=env,
        stdout=out,
        stderr=out,
        text=True,
    )


def query(home: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "assay.db", timeout=10) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(delay=0.005) as server:
        yield server


def test_two_workers_never_run_one_item_twice(
    home: Path, env: dict[str, str], fake: FakeProvider
) -> None:
    plan(home, fake, experiments=4, items=40, concurrency=4)
    procs = [worker(env, "--until-idle") for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    ran = sum(int(out.split(" ran ")[1].split()[0]) for out, _ in outs)
    assert ran == 4
    assert query(home, "SELECT DISTINCT status FROM experiments") == [("completed",)]
    assert query(home, "SELECT status, count(*) FROM results GROUP BY status") == [
        ("completed", 160)
    ]
    asked = collections.Counter(r.body["messages"][-1]["content"] for r in fake.requests)
    assert len(fake.requests) == 160  # 4 experiments x 40 items, each asked exactly once
    assert set(asked.values()) == {4}


def test_a_killed_workers_run_is_taken_over(
    home: Path, env: dict[str, str], fake: FakeProvider
) -> None:
    fake.delay = 0.05
    plan(home, fake, experiments=1, items=60, concurrency=2)
    first = worker(env, capture=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        rows = query(home, "SELECT input FROM results WHERE status = 'completed'")
        if len(rows) >= 10:
            break
        time.sleep(0.05)
    # no call answers any more: the first worker cannot finish the run before it is killed
    fake.hold = True
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    done_before = {
        str(r[0]) for r in query(home, "SELECT input FROM results WHERE status = 'completed'")
    }
    assert 10 <= len(done_before) < 60
    fake.hold = False
    second = worker(env, "--until-idle")
    _out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert query(home, "SELECT status FROM experiments") == [("completed",)]
    assert query(home, "SELECT count(*) FROM results WHERE status = 'completed'") == [(60,)]
    asked = collections.Counter(r.body["messages"][-1]["content"] for r in fake.requests)
    for text in done_before:  # finished before the kill: never asked again
        question = text.split('"q":')[1].strip(' "}')
        assert asked[question] == 1, question
