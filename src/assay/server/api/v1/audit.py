"""``/api/v1/audit/``: the project's audit log (admin keys only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from assay.domain import AuditEntry, Page
from assay.server.auth import AdminStore

router = APIRouter(tags=["audit"])


@router.get("/audit/")
def list_audit(
    store: AdminStore,
    action: Annotated[str | None, Query(description="Only this action, e.g. key.create.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> Page[AuditEntry]:
    """Deletes and key changes, newest first: when, by which key (or ``cli``), what, on what."""
    return store.audit.list(action=action, limit=limit, cursor=cursor)
