"""Stored snapshots of finished runs' analysis columns ("run frames").

Comparisons, gates and dashboards read a finished run again and again; a snapshot turns a
read of every result and score row into one blob read. Freshness is exact, not timed: every
write to a run's results or scores calls :func:`touch` in its transaction, bumping
``experiments.data_revision``, and a snapshot is served only while its revision is current.
The blob's format belongs to the analysis layer; storage keeps bytes.
"""

from __future__ import annotations

import bisect
import io
import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from sqlalchemy import Connection, delete, func, insert, select, update

from assay.domain.statuses import ExperimentStatus
from assay.store.db import Database
from assay.store.sql import upsert
from assay.store.tables import experiments, run_frame_parts, run_frames
from assay.store.types import utcnow

#: The size of a stored snapshot's parts on PostgreSQL, and of the blocks written on SQLite.
PART = 1 << 20


def touch(conn: Connection, experiment_ids: Iterable[str | None]) -> None:
    """Mark the runs' results or scores as changed (inside the writing transaction)."""
    ids = sorted({i for i in experiment_ids if i is not None})
    if ids:
        conn.execute(
            update(experiments)
            .where(experiments.c.id.in_(ids))
            .values(data_revision=experiments.c.data_revision + 1)
        )


def revision(conn: Connection, experiment_id: str) -> int:
    """The run's current data revision (read it before the data a snapshot is built from)."""
    found = conn.execute(
        select(experiments.c.data_revision).where(experiments.c.id == experiment_id)
    ).scalar()
    return int(found or 0)


def finished_revision(conn: Connection, experiment_id: str) -> int | None:
    """:func:`revision` of a finished run; None while it is not finished (or is gone)."""
    row = conn.execute(
        select(experiments.c.status, experiments.c.data_revision).where(
            experiments.c.id == experiment_id
        )
    ).first()
    if row is None or not ExperimentStatus(row.status).finished:
        return None
    return int(row.data_revision or 0)


def load(db: Database, experiment_id: str) -> bytes | None:
    """The run's snapshot if one was built from its current data, else None (read whole; a
    large one is better read through :func:`opened`)."""
    with opened(db, experiment_id) as data:
        return None if data is None else data.read()


class _BlobFile(io.RawIOBase):
    """A read-only, seekable file over an SQLite blob (read as it is consumed)."""

    def __init__(self, blob: Any) -> None:
        self._blob = blob

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._blob.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._blob.seek(offset, whence)
        return int(self._blob.tell())

    def tell(self) -> int:
        return int(self._blob.tell())


class _PartsFile(io.RawIOBase):
    """A read-only, seekable file over a snapshot's parts in ``run_frame_parts`` (PostgreSQL),
    each part read when the file gets to it."""

    def __init__(self, conn: Connection, experiment_id: str, sizes: list[int]) -> None:
        self._conn = conn
        self._experiment_id = experiment_id
        self._starts = list(itertools.accumulate(sizes, initial=0))
        self._size = self._starts[-1]
        self._pos = 0
        self._part = -1
        self._data = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        part = bisect.bisect_right(self._starts, self._pos) - 1
        if part != self._part:
            self._data = self._conn.execute(
                select(run_frame_parts.c.data).where(
                    run_frame_parts.c.experiment_id == self._experiment_id,
                    run_frame_parts.c.part == part,
                )
            ).scalar_one()
            self._part = part
        offset = self._pos - self._starts[part]
        chunk = self._data[offset : offset + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def tell(self) -> int:
        return self._pos


@contextmanager
def opened(db: Database, experiment_id: str) -> Iterator[IO[bytes] | None]:
    """The run's snapshot as a binary file, if one was built from its current data, else
    None. The file reads the stored snapshot as it is consumed, inside one read transaction
    (SQLite's blob in place, a block at a time; PostgreSQL's parts one at a time), so a large
    run's snapshot is never held in memory whole."""
    if not db.is_sqlite:
        with db.read(repeatable=True) as conn:
            yield _parts(conn, experiment_id)
        return
    with db.read() as conn:
        rowid = conn.exec_driver_sql(
            "SELECT run_frames.rowid FROM run_frames JOIN experiments"
            " ON experiments.id = run_frames.experiment_id"
            " WHERE run_frames.experiment_id = ?"
            " AND run_frames.data_revision = experiments.data_revision",
            (experiment_id,),
        ).scalar()
        if rowid is None:
            yield None
            return
        driver: Any = conn.connection.driver_connection
        blob = driver.blobopen("run_frames", "data", rowid, readonly=True)
        with blob, io.BufferedReader(_BlobFile(blob), 1 << 20) as file:
            yield file


def _parts(conn: Connection, experiment_id: str) -> IO[bytes] | None:
    current = conn.execute(
        select(func.length(run_frames.c.data))
        .join(experiments, experiments.c.id == run_frames.c.experiment_id)
        .where(
            run_frames.c.experiment_id == experiment_id,
            run_frames.c.data_revision == experiments.c.data_revision,
        )
    ).scalar()
    if current is None:
        return None
    if current:  # stored whole, before snapshots were stored in parts
        data = conn.execute(
            select(run_frames.c.data).where(run_frames.c.experiment_id == experiment_id)
        ).scalar_one()
        return io.BytesIO(data)
    sizes = conn.execute(
        select(func.length(run_frame_parts.c.data))
        .where(run_frame_parts.c.experiment_id == experiment_id)
        .order_by(run_frame_parts.c.part)
    ).scalars()
    return io.BufferedReader(_PartsFile(conn, experiment_id, list(sizes)), PART)


def save(db: Database, experiment_id: str, data_revision: int, data: bytes) -> None:
    """Store a snapshot built from ``data_revision``; skipped when the run changed since."""
    save_file(db, experiment_id, data_revision, io.BytesIO(data), len(data))


def save_file(
    db: Database, experiment_id: str, data_revision: int, data: IO[bytes], size: int
) -> None:
    """:func:`save` for a snapshot in a file of ``size`` bytes, written from the file a block
    at a time (SQLite's incremental blob I/O; PostgreSQL's parts), so a large run's snapshot
    is never held in memory whole."""
    data.seek(0)
    values = {
        "experiment_id": experiment_id,
        "data_revision": data_revision,
        "data": func.zeroblob(size) if db.is_sqlite else b"",
        "created_at": utcnow(),
    }
    with db.write() as conn:
        if revision(conn, experiment_id) != data_revision:
            return
        statement = upsert(run_frames, db.dialect).values(values)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[run_frames.c.experiment_id],
                set_={k: statement.excluded[k] for k in ("data_revision", "data", "created_at")},
            )
        )
        if not db.is_sqlite:
            conn.execute(
                delete(run_frame_parts).where(run_frame_parts.c.experiment_id == experiment_id)
            )
            part = 0
            while block := data.read(PART):
                conn.execute(
                    insert(run_frame_parts).values(
                        experiment_id=experiment_id, part=part, data=block
                    )
                )
                part += 1
            return
        rowid = conn.exec_driver_sql(
            "SELECT rowid FROM run_frames WHERE experiment_id = ?", (experiment_id,)
        ).scalar_one()
        driver = conn.connection.driver_connection
        with driver.blobopen("run_frames", "data", rowid) as blob:  # type: ignore[union-attr]
            while block := data.read(PART):
                blob.write(block)
