"""OTLP batches written in bulk: duplicates, order, replays and overlaps, times, large batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from google.protobuf import json_format
from sqlalchemy import func, select

from assay.store import Store
from assay.store.tables import observations
from tests.integration.otlp_support import (
    PROTOBUF,
    T0,
    export_request,
    new_span_id,
    new_trace_id,
    parse_response,
    span,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _post(http: TestClient, request: object) -> dict[str, object]:
    body = request.SerializeToString()  # type: ignore[attr-defined]
    response = http.post("/v1/traces", content=body, headers=PROTOBUF)
    assert response.status_code == 200, response.text
    return json_format.MessageToDict(parse_response(response.content))


def _stored(store: Store) -> int:
    with store.db.read() as conn:
        query = select(func.count()).where(observations.c.project_id == store.project_id)
        return int(conn.execute(query).scalar_one())


def test_the_same_span_twice_in_one_batch_is_stored_once(http: TestClient, store: Store) -> None:
    trace_id, root, child = new_trace_id(), new_span_id(), new_span_id()
    request = export_request(
        span(trace_id, root, "root"),
        span(trace_id, child, "child", parent=root),
        span(trace_id, child, "child again", parent=root),
    )
    assert _post(http, request) == {}  # a repeat is not a rejection
    names = sorted(o.name or "" for o in store.traces.get(trace_id.hex()).observations)
    assert names == ["child", "root"]  # the first of the two is kept


def test_children_before_their_parent_in_one_batch(http: TestClient, store: Store) -> None:
    trace_id, root, llm, tool = new_trace_id(), new_span_id(), new_span_id(), new_span_id()
    request = export_request(
        span(trace_id, tool, "tool", parent=llm, attrs={"session.id": "s-9"}),
        span(trace_id, llm, "llm", parent=root),
        span(trace_id, root, "agent", attrs={"input.value": "hi"}),
    )
    assert _post(http, request) == {}
    trace = store.traces.get(trace_id.hex())
    assert (trace.name, trace.input, trace.session_id) == ("agent", "hi", "s-9")
    parents = {o.name: o.parent_id for o in trace.observations}
    assert parents == {"agent": None, "llm": root.hex(), "tool": llm.hex()}


def test_a_later_batch_updates_the_trace_it_belongs_to(http: TestClient, store: Store) -> None:
    trace_id, root = new_trace_id(), new_span_id()
    _post(http, export_request(span(trace_id, root, "agent", attrs={"input.value": "q"})))
    attrs = {"user.id": "u-1", "tag.tags": ["x"]}
    late = span(trace_id, new_span_id(), "feedback", parent=root, attrs=attrs)
    assert _post(http, export_request(late)) == {}
    trace = store.traces.get(trace_id.hex())
    # The child batch sets what it says (user, tags) and leaves the root's fields alone.
    assert (trace.name, trace.input, trace.user_id, trace.tags) == ("agent", "q", "u-1", ["x"])
    assert len(trace.observations) == 2


def test_a_batch_mixing_new_stored_and_taken_span_ids(http: TestClient, store: Store) -> None:
    first, second = new_trace_id(), new_trace_id()
    root, child, taken, fresh = new_span_id(), new_span_id(), new_span_id(), new_span_id()
    _post(http, export_request(span(first, root, "root"), span(first, taken, "owned", parent=root)))
    answer = _post(
        http,
        export_request(
            span(first, root, "root"),  # stored already: skipped
            span(first, child, "child", parent=root),  # new
            span(second, taken, "thief"),  # stored under the first trace: refused
            span(second, fresh, "other root"),  # new, in a new trace
        ),
    )
    partial = answer["partialSuccess"]
    assert partial["rejectedSpans"] == "1"  # type: ignore[index]
    assert f"span {taken.hex()} is already stored under another trace" in partial["errorMessage"]  # type: ignore[index]
    assert sorted(o.name or "" for o in store.traces.get(first.hex()).observations) == [
        "child",
        "owned",
        "root",
    ]
    assert [o.name for o in store.traces.get(second.hex()).observations] == ["other root"]
    assert _stored(store) == 4


def test_times_are_kept_to_the_microsecond(http: TestClient, store: Store) -> None:
    trace_id, root, child = new_trace_id(), new_span_id(), new_span_id()
    start = T0 + 123_456_789  # nanoseconds: .123456789 s past T0
    root_span = span(trace_id, root, "root", start=start, duration_ms=1500)
    untimed = span(trace_id, child, "untimed", parent=root)
    untimed.start_time_unix_nano = untimed.end_time_unix_nano = 0  # not recorded
    _post(http, export_request(root_span, untimed))
    trace = store.traces.get(trace_id.hex())
    expected = _EPOCH + timedelta(microseconds=start // 1000)
    assert trace.start_time == expected
    assert trace.end_time == expected + timedelta(milliseconds=1500)
    by_name = {o.name: o for o in trace.observations}
    assert by_name["root"].start_time == expected
    assert (by_name["untimed"].start_time, by_name["untimed"].end_time) == (None, None)


def test_a_large_batch_and_its_replay(http: TestClient, store: Store) -> None:
    spans = []
    for t in range(60):  # 1,200 spans: more rows than one statement carries
        trace_id, root = new_trace_id(), new_span_id()
        spans.append(span(trace_id, root, f"agent-{t}", start=T0 + t))
        spans += [span(trace_id, new_span_id(), f"step-{i}", parent=root) for i in range(19)]
    request = export_request(*spans)
    assert _post(http, request) == {}
    assert _stored(store) == 1200
    assert _post(http, request) == {}  # replayed: accepted, nothing written twice
    assert _stored(store) == 1200
    assert store.traces.list(limit=100).items[0].name.startswith("agent-")  # type: ignore[union-attr]
