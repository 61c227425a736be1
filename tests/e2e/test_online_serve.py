"""Online evaluation against a real ``assay serve``: the SDK records traces in the background,
the server's worker scores them once they settle, and the scores appear on the traces."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from assay.client import Assay
from tests.e2e.test_serve import env, start  # noqa: F401

pytestmark = pytest.mark.e2e


def _wait(check: object, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds  # generous: a loaded machine is only slower
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sdk_traces_get_online_scores(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    proc, url = start({**env, "ASSAY_ONLINE_SETTLE_S": "1", "ASSAY_WORKER_POLL_INTERVAL": "0.2"})
    try:
        client = Assay(base_url=url)
        client.evaluators.create("says-paris", "contains", params={"value": "Paris"})
        client.evaluators.create("short", "length", threshold={"lte": 10})
        rule = client.online_rules.create(
            "capitals",
            [
                {"evaluator": "says-paris", "mapping": {"output": "trace.generation.output"}},
                "short",
            ],
            filter={"name": "geo-*", "model": "gpt-test"},
        )
        for i, city in enumerate(["Paris", "Rome", "Paris, France"]):
            trace = client.trace(id=f"geo-{i}", name="geo-answer", input={"q": f"capital {i}"})
            generation = trace.start_generation(name="answer", model="gpt-test")
            generation.update(output=city)
            generation.end()
            trace.update(output=city)
        ignored = client.trace(id="other-0", name="chitchat", input="hi")
        ignored.update(output="Paris")
        client.flush()

        def scored() -> bool:
            return all(
                len(client.scores.list(trace_id=f"geo-{i}", source="online").items) == 2
                for i in range(3)
            )

        _wait(scored, "online scores on the three geo traces")
        verdicts = {}
        for i in range(3):
            for s in client.scores.list(trace_id=f"geo-{i}", source="online").items:
                assert s.metadata["online_rule_id"] == rule.id
                verdicts[(i, s.name)] = s.passed
        assert verdicts == {
            (0, "says-paris"): True,
            (1, "says-paris"): False,
            (2, "says-paris"): True,
            (0, "short"): True,
            (1, "short"): True,
            (2, "short"): False,
        }
        assert client.scores.list(trace_id="other-0", source="online").items == []
        # A later batch of a scored trace never scores it twice.
        client.traces.ingest([{"id": "geo-0", "metadata": {"late": True}}])
        series = client.online_rules.scores(rule=rule.id, bucket_s=60)
        counts = {s.name: sum(p.count for p in s.points) for s in series.series}
        assert counts == {"says-paris": 3, "short": 3}
        late = client.trace(id="geo-3", name="geo-answer", input={"q": "capital 3"})
        late.start_generation(name="answer", model="gpt-test", output="Paris").end()
        late.update(output="Paris")
        client.flush()  # ingested after geo-0's late batch, so looked at no earlier
        _wait(
            lambda: len(client.scores.list(trace_id="geo-3", source="online").items) == 2,
            "online scores on geo-3",
        )
        assert len(client.scores.list(trace_id="geo-0", source="online").items) == 2
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
