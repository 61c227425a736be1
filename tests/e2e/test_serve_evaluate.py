"""``assay.evaluate(dataset_name, task, scorers, server=...)`` against a real ``assay serve``
on the test database: the dataset is read from the server, outputs and scores are uploaded
against its items, the dataset's attached evaluators run on the server's worker (judges with the
server's own key), the run's dashboard URL comes back, and an outage loses nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import assay
from assay.client import Assay
from assay.client.journal import replay
from assay.config import Settings
from assay.errors import InvalidInput
from tests.e2e.test_serve import env, start  # noqa: F401  (env is a fixture)
from tests.fakes.provider import FakeProvider

pytestmark = pytest.mark.e2e

SERVER_KEY = "sk-server-only-7f3a"


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture
def server(env: dict[str, str], db_url: str, fake: FakeProvider) -> Iterator[str]:  # noqa: F811
    """``assay serve`` on the test database, in a project of its own, holding a judge key for
    its provider (the fake)."""
    values = {
        **env,
        "ASSAY_DATABASE_URL": db_url,
        "ASSAY_PROJECT": f"evaluate-{uuid.uuid4().hex[:10]}",
        "ASSAY_WORKER_POLL_INTERVAL": "0.2",
        "OPENAI_API_KEY": SERVER_KEY,
        "OPENAI_BASE_URL": fake.openai_url,
    }
    proc, base = start(values)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def client(server: str) -> Iterator[Assay]:
    with Assay(base_url=server, max_retries=0) as api:
        yield api


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The SDK side: its own embedded store, no server key, no ASSAY_URL."""
    for key in ("OPENAI_API_KEY", "ASSAY_URL", "ASSAY_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    return Settings(home=tmp_path / "sdk", database_url=f"sqlite:///{tmp_path / 'sdk.db'}")


def answer(x: dict[str, Any]) -> str:
    return str(x["q"]).upper()


def shout(x: dict[str, Any]) -> str:
    return str(x["q"]).upper() + "!"


def seed(client: Assay, name: str, n: int) -> list[str]:
    """A dataset of ``n`` questions plus a second item with the first one's input (so only
    item ids, not inputs, can tell the two apart); returns the item ids in order."""
    client.datasets.create(name)
    items = [
        {"input": {"q": f"question {i}"}, "expected_output": f"QUESTION {i}"} for i in range(n)
    ]
    items.append({"input": {"q": "question 0"}, "expected_output": "QUESTION 0 (again)"})
    client.datasets.create_items(name, items)
    ids: list[str] = []
    cursor = None
    while True:
        page = client.datasets.items(name, limit=1000, cursor=cursor)
        ids += [i.id for i in page.items]
        cursor = page.next_cursor
        if not cursor:
            return ids


def scored(client: Assay, run_id: str) -> Any:
    """The run once the server's worker has applied the attached evaluators."""
    deadline = time.monotonic() + 120
    while (run := client.dataset_runs.get(run_id)).scoring.pending:
        assert time.monotonic() < deadline, f"still scoring: {run.scoring}"
        time.sleep(0.2)
    return run


def all_results(client: Assay, run_id: str) -> list[Any]:
    rows: list[Any] = []
    cursor = None
    while True:
        page = client.experiments.results(run_id, limit=1000, cursor=cursor)
        rows += page.results
        cursor = page.next_cursor
        if not cursor:
            return rows


def test_evaluate_a_server_dataset(
    server: str, client: Assay, local: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = seed(client, "support-qa", 1200)  # 1201 items: read in two pages
    client.evaluators.create("mentions", "contains", params={"value": "QUESTION"})
    client.evaluators.attach("support-qa", "mentions")

    result = assay.evaluate("support-qa", answer, ["exact_match"], server=server, settings=local)

    assert result.summary.total == 1201
    assert result.upload is not None
    assert result.upload.done
    assert result.url == f"{server}/runs/{result.id}"
    assert f"view the run at {result.url}" in capsys.readouterr().out
    assert result.upload.scoring is None  # no waiting: the server's worker scores
    assert scored(client, result.id).scoring.done == 1201

    run = client.experiments.get(result.id)
    assert run.name == "answer on support-qa"
    stats = {s.name: s for s in run.summary.scores}
    assert set(stats) == {"exact_match", "mentions"}
    assert (stats["exact_match"].passed, stats["exact_match"].failed) == (1200, 1)
    assert stats["mentions"].passed == 1201
    assert (run.summary.completed, run.summary.passed) == (1201, 1200)

    rows = all_results(client, result.id)
    assert sorted(r.item_id for r in rows) == sorted(ids)  # every item, by its id
    again = next(r for r in rows if r.expected_output == "QUESTION 0 (again)")
    verdicts = {s.name: s.passed for s in again.scores}
    assert verdicts == {"exact_match": False, "mentions": True}
    assert again.passed is False

    page = httpx.get(result.url, timeout=30)
    assert page.status_code == 200
    assert "exact_match" in page.text
    assert "mentions" in page.text

    # A second run of the same dataset lines up with the first, item by item.
    other = assay.evaluate(
        "support-qa", shout, ["exact_match"], server=client, settings=local, evaluators=[]
    )
    assert other.upload is not None
    assert other.upload.done
    assert other.upload.scoring is None  # evaluators=[]: nothing scored on the server
    assert client.dataset_runs.get(other.id).scoring.done == 0
    compared = client.experiments.compare([result.id, other.id], limit=5)
    assert compared["total_items"] == 1201
    second = client.experiments.get(other.id)
    assert {s.name for s in second.summary.scores} == {"exact_match"}
    assert second.summary.passed == 0
    result.close()
    other.close()


def test_evaluate_a_pinned_version_and_chosen_items(
    server: str, client: Assay, local: Settings
) -> None:
    ids = seed(client, "versions", 3)
    before = client.datasets.get("versions").version
    client.datasets.create_items("versions", [{"input": {"q": "late"}, "expected_output": "LATE"}])
    client.evaluators.create("short", "length", params={"max": 12})

    old = assay.evaluate(
        "versions",
        answer,
        ["exact_match"],
        server=server,
        settings=local,
        dataset_version=before,
        evaluators=["short"],
    )
    assert old.summary.total == 4  # the item added later is not in that version
    assert old.upload is not None
    assert old.upload.done
    rows = all_results(client, old.id)
    assert sorted(r.item_id for r in rows) == sorted(ids)
    assert all({s.name for s in r.scores} == {"exact_match", "short"} for r in rows)

    chosen = assay.evaluate(
        "versions", answer, ["exact_match"], server=server, settings=local, ids=ids[1:3]
    )
    assert chosen.summary.total == 2
    assert sorted(r.item_id for r in all_results(client, chosen.id)) == sorted(ids[1:3])
    old.close()
    chosen.close()


def test_attached_judge_scores_on_the_server_with_its_own_key(
    server: str, client: Assay, local: Settings, fake: FakeProvider
) -> None:
    fake.reply = lambda prompt: '{"reason": "fine", "choice": "A"}'
    seed(client, "judged", 3)
    judge = {"model": "judge-model"}  # the server's provider, with the server's key
    client.evaluators.create("judge", "llm_judge", params=judge)
    client.evaluators.attach("judged", "judge")

    result = assay.evaluate("judged", answer, ["exact_match"], server=server, settings=local)

    assert result.upload is not None
    assert result.upload.done
    assert scored(client, result.id).scoring.done == 4
    assert len(fake.requests) == 4
    assert {r.headers.get("authorization") for r in fake.requests} == {f"Bearer {SERVER_KEY}"}
    rows = all_results(client, result.id)
    assert all({s.name for s in r.scores} >= {"exact_match", "judge"} for r in rows)
    result.close()


class Outage(httpx.Client):
    """A client whose writes fail while ``down``."""

    down = False

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if self.down and request.method != "GET":
            raise httpx.ConnectError("connection refused", request=request)
        return super().send(request, **kwargs)


def test_outage_then_replay_delivers_outputs_scores_and_server_scoring(
    server: str, local: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    http = Outage(base_url=server, timeout=30)
    client = Assay(base_url=server, http_client=http, max_retries=0)
    seed(client, "flaky", 1500)
    client.evaluators.create("mentions", "contains", params={"value": "QUESTION"})
    client.evaluators.attach("flaky", "mentions")
    uploads = local.home / "uploads"

    http.down = True  # the dataset is read, then every write fails
    result = assay.evaluate("flaky", answer, ["exact_match"], server=client, settings=local)
    assert result.summary.completed == 1501
    assert result.upload is not None
    assert (result.upload.sent, result.upload.pending) == (0, 1501)
    assert result.upload.error is not None
    assert "ConnectError" in result.upload.error
    assert result.url == f"{server}/runs/{result.id}"
    assert "1501 results wait in the journal" in capsys.readouterr().out

    http.down = False
    [final] = replay(client, uploads)
    assert (final.sent, final.pending) == (1501, 0)
    assert final.done
    assert replay(client, uploads) == []
    assert scored(client, result.id).scoring.done == 1501

    run = client.experiments.get(result.id)
    stats = {s.name: s for s in run.summary.scores}
    assert (stats["exact_match"].count, stats["exact_match"].passed) == (1501, 1500)
    assert stats["mentions"].passed == 1501
    assert run.summary.total == 1501  # each result once, after a retried run and scoring
    page = httpx.get(result.url, timeout=30)
    assert page.status_code == 200
    assert "mentions" in page.text
    result.close()
    http.close()


def test_evaluators_without_a_server_is_an_error(local: Settings) -> None:
    with pytest.raises(InvalidInput, match="evaluators="):
        assay.evaluate([{"input": "a"}], str, evaluators=["x"], settings=local)
