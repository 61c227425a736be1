"""Projects: the tenant that owns every other row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from assay.domain import Project
from assay.errors import NotFound
from assay.ids import new_id
from assay.store.db import Database
from assay.store.tables import projects
from assay.store.types import utcnow


def ensure_project(db: Database, name: str) -> Project:
    """Return the project called ``name``, creating it on first use."""
    with db.read() as conn:
        row = conn.execute(select(projects).where(projects.c.name == name)).first()
    if row is not None:
        return Project.model_construct(**row._mapping)
    try:
        with db.write() as conn:
            project = Project(id=new_id(), name=name, created_at=utcnow())
            conn.execute(projects.insert().values(project.model_dump()))
            return project
    except IntegrityError:  # created concurrently by another process
        return ensure_project(db, name)


def get_project(db: Database, project_id: str) -> Project:
    with db.read() as conn:
        row = conn.execute(select(projects).where(projects.c.id == project_id)).first()
    if row is None:
        raise NotFound(f"project {project_id!r} not found", field="project")
    return Project.model_construct(**row._mapping)
