"""Session pages: traces grouped by session id, and one session as a conversation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from assay.domain import TraceQuery
from assay.errors import NotFound
from assay.server.auth import ProjectStore
from assay.server.web.templating import render
from assay.server.web.trace_tree import chat_messages

router = APIRouter()


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(
    request: Request,
    store: ProjectStore,
    q: Annotated[str | None, Query(max_length=200)] = None,
    user: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """Sessions, the latest active first: traces, first and last time, user, tokens, cost."""
    page = store.traces.sessions(
        search=q or None, user_id=user or None, limit=50, cursor=cursor or None
    )
    filters = {"q": q or "", "user": user or ""}
    return render(
        request,
        "sessions.html",
        {"section": "traces", "tab": "sessions", "page": page, "filters": filters},
        block="table",
    )


@router.get("/sessions/{session_id:path}", response_class=HTMLResponse)
def session_page(
    request: Request,
    store: ProjectStore,
    session_id: str,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """The session's traces oldest first, each as its input and output."""
    page = store.traces.list(
        TraceQuery(session_id=session_id), limit=100, cursor=cursor or None, oldest_first=True
    )
    if not page.items and cursor is None:
        raise NotFound(f"session {session_id!r} has no traces", field="session_id")
    turns = [(t, chat_messages(t.input), chat_messages(t.output)) for t in page.items]
    totals = {
        "cost": sum(t.cost or 0 for t in page.items),
        "tokens": sum((t.tokens_in or 0) + (t.tokens_out or 0) for t in page.items),
        "users": sorted({t.user_id for t in page.items if t.user_id}),
    }
    return render(
        request,
        "session.html",
        {
            "section": "traces",
            "session_id": session_id,
            "page": page,
            "turns": turns,
            "totals": totals,
        },
    )
