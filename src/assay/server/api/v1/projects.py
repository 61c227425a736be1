"""``/api/v1/projects/current/``: which project the credentials belong to."""

from __future__ import annotations

from fastapi import APIRouter

from assay.domain import Project
from assay.server.auth import ProjectStore
from assay.store import get_project

router = APIRouter(tags=["projects"])


@router.get("/projects/current/")
def current_project(store: ProjectStore) -> Project:
    """The project the request is authenticated for."""
    return get_project(store.db, store.project_id)
