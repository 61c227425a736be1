"""Trace ingestion (idempotent by id), list and detail."""

from __future__ import annotations

import uuid

import pytest

from assay.client import Assay
from assay.domain import ObservationType
from assay.errors import Conflict, InvalidInput, NotFound


@pytest.fixture
def run() -> str:
    """Trace ids are global: each test uses its own so a shared database never collides."""
    return uuid.uuid4().hex[:12]


def _trace(trace_id: str, **extra: object) -> dict[str, object]:
    return {
        "id": trace_id,
        "name": "trivia-answer",
        "input": {"q": "Capital of Japan?"},
        "output": {"answer": "Tokyo"},
        "sessionId": "s-1",
        "startTime": "2026-02-07t15:00:00Z",
        "observations": [
            {"id": f"{trace_id}-span", "type": "span", "name": "pipeline"},
            {
                "id": f"{trace_id}-gen",
                "parentId": f"{trace_id}-span",
                "type": "generation",
                "name": "answer",
                "model": "gpt-4o-mini",
                "tokens_in": 12,
                "tokens_out": 3,
                "cost": 0.0001,
                "startTime": "2026-02-07t15:00:01Z",
            },
            {"id": f"{trace_id}-tool", "type": "tool", "name": "search", "input": {"q": "x"}},
        ],
        **extra,
    }


def test_ingest_then_read(client: Assay, run: str) -> None:
    t1, t2 = f"t1-{run}", f"t2-{run}"
    result = client.traces.ingest([_trace(t1), _trace(t2, tags=["prod"])])
    assert (result.created, result.updated, result.observations) == (2, 0, 6)
    detail = client.traces.get(t1)
    assert detail.session_id == "s-1"
    assert detail.output == {"answer": "Tokyo"}
    generation = next(o for o in detail.observations if o.type is ObservationType.generation)
    assert (generation.model, generation.tokens_in, generation.cost) == ("gpt-4o-mini", 12, 0.0001)
    assert generation.parent_id == f"{t1}-span"
    assert {o.type for o in detail.observations} == {
        ObservationType.span,
        ObservationType.generation,
        ObservationType.tool,
    }
    assert [t.id for t in client.traces.list(tag="prod").items] == [t2]


def test_ingest_is_idempotent_by_id(client: Assay, run: str) -> None:
    t1 = f"t1-{run}"
    client.traces.ingest([_trace(t1)])
    again = client.traces.ingest(
        [
            {
                "id": t1,
                "output": {"answer": "Tokyo, Japan"},
                "observations": [{"id": f"{t1}-gen", "type": "generation", "tokens_out": 5}],
            }
        ]
    )
    assert (again.created, again.updated) == (0, 1)
    detail = client.traces.get(t1)
    assert detail.output == {"answer": "Tokyo, Japan"}
    assert detail.name == "trivia-answer"  # fields not sent are kept
    assert len(detail.observations) == 3
    generation = next(o for o in detail.observations if o.id == f"{t1}-gen")
    assert (generation.tokens_in, generation.tokens_out) == (12, 5)
    assert client.traces.ingest([{"name": "no id"}]).created == 1


def test_list_pages_newest_first(client: Assay) -> None:
    ids = [f"p{i}-{uuid.uuid4().hex[:8]}" for i in range(5)]
    for trace_id in ids:
        client.traces.ingest([{"id": trace_id, "name": "x"}])
    seen: list[str] = []
    page = client.traces.list(limit=2)
    seen += [t.id for t in page.items]
    while page.next_cursor:
        page = client.traces.list(limit=2, cursor=page.next_cursor)
        seen += [t.id for t in page.items]
    assert sorted(seen) == ids
    assert len(seen) == 5


def test_trace_errors(client: Assay, run: str) -> None:
    with pytest.raises(NotFound):
        client.traces.get("missing")
    with pytest.raises(InvalidInput) as info:
        client.traces.ingest([{"id": f"bad-{run}", "observations": [{"type": "nonsense"}]}])
    assert info.value.field == "traces.0.observations.0.type"
    with pytest.raises(NotFound):
        client.traces.get(f"bad-{run}")


def test_same_ids_twice_in_one_batch(client: Assay, run: str) -> None:
    t1 = f"t1-{run}"
    result = client.traces.ingest(
        [
            {"id": t1, "name": "first", "observations": [{"id": f"{t1}-o", "name": "a"}]},
            {"id": t1, "output": "done", "observations": [{"id": f"{t1}-o", "name": "b"}]},
        ]
    )
    assert (result.created, result.updated) == (1, 1)
    detail = client.traces.get(t1)
    assert (detail.name, detail.output) == ("first", "done")
    assert [o.name for o in detail.observations] == ["b"]


def test_an_observation_cannot_move_between_traces(client: Assay, run: str) -> None:
    t1, t2 = f"t1-{run}", f"t2-{run}"
    client.traces.ingest([{"id": t1, "observations": [{"id": f"o-{run}"}]}])
    with pytest.raises(Conflict):
        client.traces.ingest([{"id": t2, "observations": [{"id": f"o-{run}"}]}])
    with pytest.raises(NotFound):
        client.traces.get(t2)  # the whole batch was refused
