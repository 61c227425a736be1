"""Recorded traces for the trace list, session and trace page tests.

Five traces: two chats of session s1 (one with a failed generation), a search of session s2
whose metadata says ERROR, a chat without user or session whose span's parent is missing, and
an old trace with no observations at all.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from assay.domain import ScoreCreate, ScoreSource, TraceCreate
from assay.store import Store

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
LONG = "word " * 600  # over the pages' 1,500 characters


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def seed_traces(store: Store) -> None:
    """The five traces (ingested oldest first, so creation order is t0 … t4) and two scores."""
    batch = [
        {
            "id": "t0",
            "name": "import",
            "input": "old",
            "start_time": "2026-01-01T00:00:00+00:00",
        },
        {
            "id": "t1",
            "name": "chat",
            "user_id": "u1",
            "session_id": "s1",
            "tags": ["prod", "geo"],
            "start_time": at(0),
            "end_time": at(0.05),
            "input": {"messages": [{"role": "user", "content": "Capital of Japan?"}]},
            "output": "Tokyo",
            "observations": [
                {
                    "id": "t1-root",
                    "name": "agent",
                    "start_time": at(0),
                    "end_time": at(0.05),
                },
                {
                    "id": "t1-gen",
                    "parent_id": "t1-root",
                    "type": "generation",
                    "name": "answer",
                    "model": "gpt-4o",
                    "model_parameters": {"temperature": 0.2},
                    "start_time": at(0.01),
                    "end_time": at(0.04),
                    "input": [
                        {"role": "system", "content": "You answer geography questions."},
                        {"role": "user", "content": "Capital of Japan?"},
                    ],
                    "output": {"role": "assistant", "content": "Tokyo"},
                    "tokens_in": 10,
                    "tokens_out": 5,
                    "cost": 0.0125,
                    "metadata": {"long": LONG},
                },
            ],
        },
        {
            "id": "t2",
            "name": "chat",
            "user_id": "u2",
            "session_id": "s1",
            "tags": ["prod"],
            "start_time": at(5),
            "input": "And of France?",
            "output": None,
            "observations": [
                {
                    "id": "t2-gen",
                    "type": "generation",
                    "name": "answer",
                    "model": "gpt-4o-mini",
                    "start_time": at(5),
                    "end_time": at(5.1),
                    "tokens_in": 7,
                    "tokens_out": 0,
                    "cost": 0.001,
                    "level": "ERROR",
                    "status_message": "RateLimitError: slow down",
                }
            ],
        },
        {
            "id": "t3",
            "name": "search",
            "user_id": "u1",
            "session_id": "s2",
            "tags": ["staging"],
            "start_time": "2026-03-02T10:00:00+00:00",
            "input": {"q": "weather"},
            "output": {"hits": 3},
            "metadata": {"level": "ERROR"},
        },
        {
            "id": "t4",
            "name": "chat",
            "input": "orphaned",
            "output": "still shown",
            "observations": [
                {
                    "id": "t4-lost",
                    "parent_id": "never-sent",
                    "name": "retrieve",
                    "start_time": at(60),
                    "end_time": at(61),
                    "input": {"k": 3},
                    "output": ["doc"],
                }
            ],
        },
    ]
    for trace in batch:  # one batch each: created_at follows this order
        store.traces.ingest([TraceCreate.model_validate(trace)])
    store.scores.upsert(
        ScoreCreate(name="helpfulness", value=0.9, source=ScoreSource.api), trace_id="t1"
    )
    store.scores.upsert(
        ScoreCreate(name="helpfulness", value=0.2, source=ScoreSource.api), trace_id="t3"
    )
