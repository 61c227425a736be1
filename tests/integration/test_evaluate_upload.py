"""``assay.evaluate`` against a server: results journaled on disk, sent in batches, and after
an outage (or a lost answer) everything arrives exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from fastapi.testclient import TestClient

import assay
from assay.client import Assay
from assay.client.journal import replay
from assay.config import Settings


class Flaky(TestClient):
    """The in-process server, unreachable while ``down``; ``lose`` drops the answer of that
    many item uploads after the server stored them."""

    down = False
    lose = 0
    item_posts = 0

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        response = super().send(request, **kwargs)
        if request.url.path.endswith("/items/") and request.method == "POST":
            self.item_posts += 1
            if self.lose:
                self.lose -= 1
                raise httpx.ReadError("connection reset", request=request)
        return response


def answer(x: dict[str, Any]) -> str:
    return str(x["q"]).upper()


def test_outage_then_replay_delivers_everything_once(app: FastAPI, tmp_path: Path) -> None:
    local = Settings(home=tmp_path / "local")
    data = [
        {"input": {"q": f"question {n}"}, "expected_output": f"QUESTION {n}"} for n in range(2500)
    ]
    with Flaky(app, base_url="http://testserver") as http:
        client = Assay(base_url="http://testserver", http_client=http, max_retries=0)
        http.down = True
        result = assay.evaluate(data, answer, ["exact_match"], settings=local, server=client)
        assert result.summary.completed == 2500
        assert result.upload is not None
        assert (result.upload.sent, result.upload.pending) == (0, 2500)
        assert result.upload.error
        assert "ConnectError" in result.upload.error
        journal = tmp_path / "local" / "uploads" / f"{result.id}.jsonl"
        lines = [orjson.loads(line) for line in journal.read_bytes().splitlines()]
        assert [len(e["items"]) for e in lines if "batch" in e] == [1000, 1000, 500]

        http.down = False
        http.lose = 1  # the first batch is stored but its answer never arrives
        first = replay(client, tmp_path / "local" / "uploads")
        assert (first[0].sent, first[0].pending) == (0, 2500)
        again = replay(client, tmp_path / "local" / "uploads")
        assert (again[0].sent, again[0].pending) == (2500, 0)
        assert replay(client, tmp_path / "local" / "uploads") == []
        assert http.item_posts == 4  # one batch sent twice, the others once

        run = client.dataset_runs.get(result.id)
        assert run.item_count == 2500
        assert run.dataset_id is not None
        rows = client.experiments.export(result.id).splitlines()
        outputs = sorted(orjson.loads(r)["output"] for r in rows)
        assert outputs == sorted(f"QUESTION {n}" for n in range(2500))
        assert all(orjson.loads(r)["item_id"] for r in rows)  # aligned with the server's items


def test_evaluate_uploads_at_once_when_the_server_is_up(app: FastAPI, tmp_path: Path) -> None:
    local = Settings(home=tmp_path / "local")
    with TestClient(app, base_url="http://testserver") as http:
        client = Assay(base_url="http://testserver", http_client=http, max_retries=0)
        client.datasets.create("shared-set")
        client.datasets.create_items("shared-set", [{"input": {"q": "a"}}, {"input": {"q": "b"}}])
        first = assay.evaluate(
            [{"input": {"q": "a"}}, {"input": {"q": "b"}}],
            answer,
            name="uppercase",
            settings=local,
            server=client,
        )
        assert first.upload is not None
        assert (first.upload.sent, first.upload.pending) == (2, 0)
        assert client.dataset_runs.get(first.id).item_count == 2


def test_a_journal_from_before_scores_replays_as_it_was(app: FastAPI, tmp_path: Path) -> None:
    """Journals written before uploads carried scores (no ``score`` step) still replay."""
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    header = {
        "run_id": "old-run-1",
        "dataset_name": "older-set",
        "name": "old",
        "description": None,
        "metadata": {},
        "dataset_items": [{"input": {"q": "a"}, "expected_output": "A"}],
    }
    record = {"id": "old-result-1", "input": {"q": "a"}, "output": "A", "error": None}
    lines = [{"header": header}, {"batch": 0, "items": [record]}]
    (uploads / "old-run-1.jsonl").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    with Flaky(app, base_url="http://testserver") as http:
        client = Assay(base_url="http://testserver", http_client=http, max_retries=0)
        [outcome] = replay(client, uploads)
        assert outcome.done
        assert outcome.scoring is None
        assert outcome.url == "http://testserver/runs/old-run-1"
        assert replay(client, uploads) == []
        assert client.dataset_runs.get("old-run-1").item_count == 1
