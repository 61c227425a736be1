"""The trace list's filters, totals and pages, and sessions, on each database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from assay.domain import TraceQuery
from assay.errors import InvalidInput
from assay.store import Store
from tests.integration.trace_support import seed_traces


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_traces(store)
    return store


def ids(store: Store, **where: object) -> list[str]:
    return [t.id for t in store.traces.list(TraceQuery.model_validate(where), limit=100).items]


def test_unfiltered_newest_first(seeded: Store) -> None:
    assert ids(seeded) == ["t4", "t3", "t2", "t1", "t0"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"search": "CHA"}, ["t4", "t2", "t1"]),  # part of the name, any case
        ({"search": "t3"}, ["t3"]),  # or of the id
        ({"name": "chat"}, ["t4", "t2", "t1"]),
        ({"name": "cha"}, []),  # the name filter is exact
        ({"user_id": "u1"}, ["t3", "t1"]),
        ({"session_id": "s1"}, ["t2", "t1"]),
        ({"tags": ["prod"]}, ["t2", "t1"]),
        ({"tags": ["prod", "geo"]}, ["t1"]),  # all of them
        ({"tags": ["geo", "staging"]}, []),
        ({"model": "gpt-4o"}, ["t1"]),  # exact: not gpt-4o-mini
        ({"model": "gpt-4o-mini"}, ["t2"]),
        ({"errors": True}, ["t3", "t2"]),  # a failed observation, or the trace's own level
        ({"score_name": "helpfulness"}, ["t3", "t1"]),
        ({"score_name": "helpfulness", "score_min": 0.5}, ["t1"]),
        ({"score_name": "helpfulness", "score_max": 0.5}, ["t3"]),
        ({"score_name": "helpfulness", "score_min": 0.1, "score_max": 0.95}, ["t3", "t1"]),
        ({"score_name": "correctness"}, []),
        ({"since": "2026-03-01T10:04:00Z"}, ["t4", "t3", "t2"]),  # t4: recorded now, no start
        ({"until": "2026-03-01T10:04:00Z"}, ["t1", "t0"]),
        ({"since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z"}, ["t2", "t1"]),
    ],
)
def test_each_filter(seeded: Store, where: dict[str, object], expected: list[str]) -> None:
    assert ids(seeded, **where) == expected


def test_filters_combine(seeded: Store) -> None:
    assert ids(seeded, user_id="u1", model="gpt-4o") == ["t1"]
    assert ids(seeded, user_id="u2", model="gpt-4o") == []
    assert ids(seeded, errors=True, session_id="s1") == ["t2"]
    assert ids(seeded, errors=True, tags=["staging"], score_name="helpfulness") == ["t3"]
    assert ids(seeded, name="chat", since="2026-03-01T00:00:00Z", until="2026-03-01T11:00:00Z") == [
        "t2",
        "t1",
    ]
    # the shorthand keyword filters add to the query's
    shorthand = seeded.traces.list(TraceQuery(tags=["prod"]), tag="geo", user_id="u1")
    assert [t.id for t in shorthand.items] == ["t1"]


def test_totals_and_scores(seeded: Store) -> None:
    rows = {t.id: t for t in seeded.traces.list(limit=10).items}
    t1, t2, t3, t0 = rows["t1"], rows["t2"], rows["t3"], rows["t0"]
    assert (t1.observation_count, t1.tokens_in, t1.tokens_out) == (2, 10, 5)
    assert t1.cost == pytest.approx(0.0125)
    assert t1.duration_ms == pytest.approx(3000)  # the trace's own start and end
    assert not t1.error
    assert [(s.name, s.numeric_value) for s in t1.scores] == [("helpfulness", 0.9)]
    assert t2.error
    assert t2.duration_ms == pytest.approx(6000)
    assert t3.error
    assert t3.observation_count == 0
    assert t3.tokens_in is None
    assert t3.cost is None
    assert t0.duration_ms is None
    assert t0.scores == []


@pytest.mark.parametrize("where", [{}, {"name": "chat"}, {"tags": ["prod"]}, {"errors": True}])
def test_paging_forward_and_back(seeded: Store, where: dict[str, object]) -> None:
    query = TraceQuery.model_validate(where)
    everything = [t.id for t in seeded.traces.list(query, limit=100).items]
    pages: list[list[str]] = []
    page = seeded.traces.list(query, limit=2)
    assert page.prev_cursor is None
    cursors = []
    while True:
        pages.append([t.id for t in page.items])
        if page.next_cursor is None:
            break
        cursors.append(page.prev_cursor)
        page = seeded.traces.list(query, limit=2, cursor=page.next_cursor)
    assert [i for p in pages for i in p] == everything
    # back from the last page, one page at a time, to the first
    back = [[t.id for t in page.items]]
    while page.prev_cursor is not None:
        page = seeded.traces.list(query, limit=2, cursor=page.prev_cursor)
        back.append([t.id for t in page.items])
    assert back[::-1] == pages
    assert page.next_cursor is not None or len(pages) == 1


def test_oldest_first_pages(seeded: Store) -> None:
    first = seeded.traces.list(TraceQuery(name="chat"), limit=2, oldest_first=True)
    assert [t.id for t in first.items] == ["t1", "t2"]
    second = seeded.traces.list(
        TraceQuery(name="chat"), limit=2, oldest_first=True, cursor=first.next_cursor
    )
    assert [t.id for t in second.items] == ["t4"]
    assert second.next_cursor is None
    again = seeded.traces.list(
        TraceQuery(name="chat"), limit=2, oldest_first=True, cursor=second.prev_cursor
    )
    assert [t.id for t in again.items] == ["t1", "t2"]
    assert again.prev_cursor is None


def test_bad_cursor_and_query(seeded: Store) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        seeded.traces.list(cursor="not-a-cursor")
    with pytest.raises(ValueError, match="score_name"):
        TraceQuery(score_min=1)
    with pytest.raises(ValueError, match="since"):
        TraceQuery(since=datetime(2026, 2, 1, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC))


def test_ids_span_names_and_scores(seeded: Store) -> None:
    assert seeded.traces.ids(TraceQuery(tags=["prod"]), limit=10) == ["t2", "t1"]
    assert seeded.traces.ids(TraceQuery(), limit=2) == ["t4", "t3"]
    assert seeded.traces.span_names(["t1", "t4"]) == {"agent", "answer", "retrieve"}
    assert [s.numeric_value for s in seeded.traces.scores("t3")] == [0.2]


def test_sessions(seeded: Store) -> None:
    page = seeded.traces.sessions()
    assert [s.session_id for s in page.items] == ["s2", "s1"]  # latest activity first
    s2, s1 = page.items
    assert (s1.trace_count, s1.tokens_in, s1.tokens_out) == (2, 17, 5)
    assert s1.cost == pytest.approx(0.0135)
    assert s1.first_time < s1.last_time
    assert s1.user_id in {"u1", "u2"}
    assert (s2.trace_count, s2.user_id, s2.cost) == (1, "u1", None)
    first = seeded.traces.sessions(limit=1)
    assert [s.session_id for s in first.items] == ["s2"]
    assert first.next_cursor
    second = seeded.traces.sessions(limit=1, cursor=first.next_cursor)
    assert [s.session_id for s in second.items] == ["s1"]
    assert second.next_cursor is None
    assert [s.session_id for s in seeded.traces.sessions(search="1").items] == ["s1"]
    assert [s.session_id for s in seeded.traces.sessions(user_id="u2").items] == ["s1"]
