"""Prompts: immutable numbered versions per name, and labels that point at one version each."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Connection, Row, delete, func, select
from sqlalchemy.exc import IntegrityError

from assay.domain import Page, Prompt, PromptCreate
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_id
from assay.store.db import Database
from assay.store.sql import decode_cursor, encode_cursor, text_contains
from assay.store.tables import experiments, prompt_labels, prompts
from assay.store.types import utcnow


class Prompts:
    """Prompt versions and labels within one project."""

    def __init__(self, db: Database, project_id: str) -> None:
        self.db = db
        self.project_id = project_id

    def create(self, data: PromptCreate) -> Prompt:
        """Store the next version of ``data.name``; its labels move to this version."""
        try:
            with self.db.write() as conn:
                latest = conn.execute(
                    select(func.max(prompts.c.version)).where(
                        prompts.c.project_id == self.project_id, prompts.c.name == data.name
                    )
                ).scalar_one()
                version = (latest or 0) + 1
                values = {
                    "id": new_id(),
                    "project_id": self.project_id,
                    "name": data.name,
                    "version": version,
                    "template": data.template,
                    "messages": data.messages,
                    "model_config": data.model_config_,
                    "created_at": utcnow(),
                }
                conn.execute(prompts.insert().values(values))
                self._move_labels(conn, data.name, version, data.labels)
                return self._get(conn, data.name, version=version)
        except IntegrityError:  # another writer took the same version number
            raise Conflict(
                f"prompt {data.name!r} changed concurrently; retry", field="name"
            ) from None

    def get(self, name: str, *, version: int | None = None, label: str | None = None) -> Prompt:
        """A version by number or label; the newest version when neither is given."""
        if version is not None and label is not None:
            raise InvalidInput("give either version or label, not both", field="label")
        with self.db.read() as conn:
            return self._get(conn, name, version=version, label=label)

    def versions(self, name: str) -> builtins.list[Prompt]:
        """Every version of ``name``, newest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(prompts)
                .where(prompts.c.project_id == self.project_id, prompts.c.name == name)
                .order_by(prompts.c.version.desc())
            ).all()
            if not rows:
                raise NotFound(f"prompt {name!r} not found", field="name")
            labels = self._labels(conn, name)
        return [_prompt(r, labels) for r in rows]

    def list(
        self, *, search: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> Page[Prompt]:
        """The newest version of each prompt, by name."""
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        newest = (
            select(prompts.c.name, func.max(prompts.c.version).label("version"))
            .where(prompts.c.project_id == self.project_id)
            .group_by(prompts.c.name)
        )
        if search:
            newest = newest.where(text_contains(prompts.c.name, search))
        if cursor:
            (after,) = decode_cursor(cursor, 1)
            newest = newest.where(prompts.c.name > after)
        sub = newest.order_by(prompts.c.name).limit(limit + 1).subquery()
        query = (
            select(prompts)
            .join(sub, (prompts.c.name == sub.c.name) & (prompts.c.version == sub.c.version))
            .where(prompts.c.project_id == self.project_id)
            .order_by(prompts.c.name)
        )
        with self.db.read() as conn:
            rows = conn.execute(query).all()
            names = [r.name for r in rows[:limit]]
            labels = self._labels_for(conn, names)
        items = [_prompt(r, labels.get(r.name, {})) for r in rows[:limit]]
        next_cursor = encode_cursor(items[-1].name) if len(rows) > limit else None
        return Page[Prompt](items=items, next_cursor=next_cursor)

    def set_labels(self, name: str, version: int, labels: builtins.list[str]) -> Prompt:
        """Make ``labels`` exactly the labels of this version (listed ones move here)."""
        with self.db.write() as conn:
            self._get(conn, name, version=version)
            conn.execute(
                delete(prompt_labels).where(
                    prompt_labels.c.project_id == self.project_id,
                    prompt_labels.c.name == name,
                    prompt_labels.c.version == version,
                    prompt_labels.c.label.not_in(labels),
                )
            )
            self._move_labels(conn, name, version, labels)
            return self._get(conn, name, version=version)

    def used_by(self, name: str, version: int | None = None) -> builtins.list[tuple[str, int]]:
        """The runs that ran ``name`` (at ``version``, or any), as (run id, prompt version),
        newest first."""
        with self.db.read() as conn:
            return self._used_by(conn, name, version)

    def delete(self, name: str, version: int | None = None) -> int:
        """Delete one version of a prompt, or the whole prompt with its labels, and say how
        many versions went. Refused (Conflict) while a run refers to what would go: runs
        keep pointing at the version they ran."""
        with self.db.write() as conn:
            where = [prompts.c.project_id == self.project_id, prompts.c.name == name]
            if version is not None:
                where.append(prompts.c.version == version)
            found = conn.execute(select(func.count()).select_from(prompts).where(*where))
            if not found.scalar_one():
                at = f" version {version}" if version is not None else ""
                raise NotFound(f"prompt {name!r}{at} not found", field="version" if at else "name")
            users = self._used_by(conn, name, version)
            if users:
                what = f"version {version} of prompt {name!r}" if version else f"prompt {name!r}"
                runs = f"{len(users)} run" + ("s" if len(users) != 1 else "")
                raise Conflict(
                    f"{what} is referenced by {runs} (e.g. run {users[0][0]}); "
                    "delete those runs first",
                    field="version" if version else "name",
                )
            labels = [prompt_labels.c.project_id == self.project_id, prompt_labels.c.name == name]
            if version is not None:
                labels.append(prompt_labels.c.version == version)
            conn.execute(delete(prompt_labels).where(*labels))
            return conn.execute(delete(prompts).where(*where)).rowcount

    # ------------------------------------------------------------------ helpers
    def _used_by(
        self, conn: Connection, name: str, version: int | None
    ) -> builtins.list[tuple[str, int]]:
        rows = conn.execute(
            select(experiments.c.id, experiments.c.config)
            .where(experiments.c.project_id == self.project_id)
            .order_by(experiments.c.created_at.desc(), experiments.c.id.desc())
        )
        found = []
        for row in rows:
            ref = prompt_reference(row.config)
            if ref is not None and ref[0] == name and (version is None or ref[1] == version):
                found.append((row.id, ref[1]))
        return found

    def _move_labels(
        self, conn: Connection, name: str, version: int, labels: builtins.list[str]
    ) -> None:
        for label in dict.fromkeys(labels):
            conn.execute(
                delete(prompt_labels).where(
                    prompt_labels.c.project_id == self.project_id,
                    prompt_labels.c.name == name,
                    prompt_labels.c.label == label,
                )
            )
            conn.execute(
                prompt_labels.insert().values(
                    project_id=self.project_id, name=name, label=label, version=version
                )
            )

    def _get(
        self, conn: Connection, name: str, *, version: int | None = None, label: str | None = None
    ) -> Prompt:
        query = select(prompts).where(
            prompts.c.project_id == self.project_id, prompts.c.name == name
        )
        if label is not None:
            pinned = conn.execute(
                select(prompt_labels.c.version).where(
                    prompt_labels.c.project_id == self.project_id,
                    prompt_labels.c.name == name,
                    prompt_labels.c.label == label,
                )
            ).scalar()
            if pinned is None:
                raise NotFound(f"prompt {name!r} has no label {label!r}", field="label")
            query = query.where(prompts.c.version == pinned)
        elif version is not None:
            query = query.where(prompts.c.version == version)
        row = conn.execute(query.order_by(prompts.c.version.desc()).limit(1)).first()
        if row is None:
            at = f" version {version}" if version is not None else ""
            raise NotFound(f"prompt {name!r}{at} not found", field="version" if at else "name")
        return _prompt(row, self._labels(conn, name))

    def _labels(self, conn: Connection, name: str) -> dict[int, builtins.list[str]]:
        return self._labels_for(conn, [name]).get(name, {})

    def _labels_for(
        self, conn: Connection, names: builtins.list[str]
    ) -> dict[str, dict[int, builtins.list[str]]]:
        out: dict[str, dict[int, builtins.list[str]]] = {}
        if not names:
            return out
        rows = conn.execute(
            select(prompt_labels)
            .where(prompt_labels.c.project_id == self.project_id, prompt_labels.c.name.in_(names))
            .order_by(prompt_labels.c.label)
        )
        for r in rows:
            out.setdefault(r.name, {}).setdefault(r.version, []).append(r.label)
        return out


def prompt_reference(config: Any) -> tuple[str, int] | None:
    """The stored prompt (name, version) a run's config ran, in any of the forms runs record
    it: a pinned spec (``prompt`` and ``version``), the ``source`` of an in-process prompt
    target, or the older ``prompt_name`` and ``prompt_version``."""
    if not isinstance(config, dict):
        return None
    source = config.get("source")
    candidates = [
        (source.get("prompt"), source.get("version")) if isinstance(source, dict) else None,
        (config.get("prompt"), config.get("version")) if config.get("type") == "prompt" else None,
        (config.get("prompt_name"), config.get("prompt_version")),
    ]
    for pair in candidates:
        if pair and isinstance(pair[0], str) and isinstance(pair[1], int):
            return pair[0], pair[1]
    return None


def _prompt(row: Row[Any], labels: dict[int, list[str]]) -> Prompt:
    m = row._mapping
    return Prompt.model_construct(
        id=m["id"],
        project_id=m["project_id"],
        name=m["name"],
        version=m["version"],
        template=m["template"],
        messages=m["messages"],
        model_config_=m["model_config"],
        labels=labels.get(m["version"], []),
        created_at=m["created_at"],
    )
