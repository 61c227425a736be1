"""Planning helpers: item selection, lean item reads, ordered ids, runner identity."""

from __future__ import annotations

import os
import random
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Text, select, type_coerce

from assay.domain import Selection
from assay.errors import InvalidInput
from assay.ids import new_id
from assay.store.item_rows import alive_at
from assay.store.tables import dataset_items
from assay.store.types import utcnow


def worker_id() -> str:
    """This process's identity as an experiment runner: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def worker_alive(worker: str | None, heartbeat_at: datetime | None, stale_after: float) -> bool:
    """Whether the runner that claimed an experiment may still be running it."""
    if not worker or heartbeat_at is None:
        return False
    if utcnow() - heartbeat_at > timedelta(seconds=stale_after):
        return False
    host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def sequential_ids(n: int) -> list[str]:
    """``n`` UUIDv7 ids that sort in the order they are returned (plan order)."""
    first = uuid.UUID(new_id()).int & ~((1 << 61) - 1)  # room to count in the low bits
    return [str(uuid.UUID(int=first + i)) for i in range(n)]


@dataclass(slots=True)
class PlannedItem:
    """The parts of a dataset item an experiment needs (a lean read of the pinned version)."""

    id: str
    input: Any
    expected_output: Any
    context: Any
    metadata: dict[str, Any]
    tags: list[str]
    raw: tuple[str | None, str | None] | None = None  # input, expected_output as stored JSON


def select_items(items: Sequence[PlannedItem], selection: Selection | None) -> list[PlannedItem]:
    """Apply an item selection to the items of a dataset version (in dataset order)."""
    chosen = list(items)
    if selection is None:
        return chosen
    if selection.ids is not None:
        wanted = set(selection.ids)
        known = {i.id for i in chosen}
        missing = [i for i in selection.ids if i not in known]
        if missing:
            raise InvalidInput(
                f"selection.ids: item(s) not in the dataset version: {', '.join(missing[:5])}",
                field="selection.ids",
            )
        chosen = [i for i in chosen if i.id in wanted]
    if selection.tags is not None:
        tags = set(selection.tags)
        chosen = [i for i in chosen if tags.intersection(i.tags)]
    if selection.first is not None:
        chosen = chosen[: selection.first]
    if selection.sample is not None and selection.sample < len(chosen):
        picked = random.Random(selection.seed).sample(range(len(chosen)), selection.sample)
        chosen = [chosen[i] for i in sorted(picked)]
    return chosen


def load_items(conn: Connection, dataset_id: str, version: int) -> list[PlannedItem]:
    """Every live item of a dataset version, in dataset order."""
    c = dataset_items.c
    where = (c.dataset_id == dataset_id, alive_at(version), c.archived.is_(False))
    order = (c.sort_order, c.id)
    if conn.dialect.name != "sqlite":
        rows = conn.execute(
            select(c.id, c.input, c.expected_output, c.context, c.metadata, c.tags)
            .where(*where)
            .order_by(*order)
        )
        return [PlannedItem(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]
    # SQLite: read the JSON text as stored, parse it with orjson once, and keep the text so
    # planning can copy it into the result rows without serialising again.
    raw = [type_coerce(col, Text) for col in (c.input, c.expected_output, c.context)]
    meta = [type_coerce(col, Text) for col in (c.metadata, c.tags)]
    loads = orjson.loads
    items = []
    for r in conn.execute(select(c.id, *raw, *meta).where(*where).order_by(*order)):
        items.append(
            PlannedItem(
                r[0],
                loads(r[1]),
                None if r[2] is None else loads(r[2]),
                None if r[3] is None else loads(r[3]),
                {} if r[4] in (None, "{}") else loads(r[4]),
                [] if r[5] in (None, "[]") else loads(r[5]),
                (r[1], r[2]),
            )
        )
    return items
