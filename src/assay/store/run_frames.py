"""Stored snapshots of finished runs' analysis columns ("run frames").

Comparisons, gates and dashboards read a finished run again and again; a snapshot turns a
read of every result and score row into one blob read. Freshness is exact, not timed: every
write to a run's results or scores calls :func:`touch` in its transaction, bumping
``experiments.data_revision``, and a snapshot is served only while its revision is current.
The blob's format belongs to the analysis layer; storage keeps bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from sqlalchemy import Connection, func, select, update

from assay.store.db import Database
from assay.store.sql import upsert
from assay.store.tables import experiments, run_frames
from assay.store.types import utcnow


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


def load(db: Database, experiment_id: str) -> bytes | None:
    """The run's snapshot if one was built from its current data, else None."""
    query = (
        select(run_frames.c.data)
        .join(experiments, experiments.c.id == run_frames.c.experiment_id)
        .where(
            run_frames.c.experiment_id == experiment_id,
            run_frames.c.data_revision == experiments.c.data_revision,
        )
    )
    with db.read() as conn:
        data = conn.execute(query).scalar()
    return None if data is None else bytes(data)


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


@contextmanager
def opened(db: Database, experiment_id: str) -> Iterator[IO[bytes] | None]:
    """The run's snapshot as a binary file, if one was built from its current data, else
    None. On SQLite the file reads the stored blob in place, a block at a time, inside one
    read transaction, so a large run's snapshot is never held in memory whole; PostgreSQL
    returns the value whole."""
    if not db.is_sqlite:
        data = load(db, experiment_id)
        yield None if data is None else io.BytesIO(data)
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


def save(db: Database, experiment_id: str, data_revision: int, data: bytes) -> None:
    """Store a snapshot built from ``data_revision``; skipped when the run changed since."""
    values = {
        "experiment_id": experiment_id,
        "data_revision": data_revision,
        "data": data,
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


def save_file(
    db: Database, experiment_id: str, data_revision: int, data: IO[bytes], size: int
) -> None:
    """:func:`save` for a snapshot in a file of ``size`` bytes. On SQLite the blob is written
    from the file in blocks (incremental blob I/O), so a large run's snapshot is never held in
    memory whole; PostgreSQL reads it as one value."""
    data.seek(0)
    if not db.is_sqlite:
        save(db, experiment_id, data_revision, data.read())
        return
    values = {
        "experiment_id": experiment_id,
        "data_revision": data_revision,
        "data": func.zeroblob(size),
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
        rowid = conn.exec_driver_sql(
            "SELECT rowid FROM run_frames WHERE experiment_id = ?", (experiment_id,)
        ).scalar_one()
        driver = conn.connection.driver_connection
        with driver.blobopen("run_frames", "data", rowid) as blob:  # type: ignore[union-attr]
            while block := data.read(1 << 20):
                blob.write(block)
