"""The exporter's disk journal: trace batches the server could not take yet.

Each batch is one :class:`~assay.client.journal.Journal` file (written and fsynced before the
exporter forgets it), named so that sorting the names gives the order they were written in.
:meth:`Spool.replay` sends them oldest first, stops at the first failure, and deletes a file
once the server stored it. Ingestion is idempotent by id, so a batch sent twice — stored, but
the answer lost, or replayed by two processes at once — is still stored once.

The directory is per server and credentials (``ASSAY_HOME/traces/<digest>``), so a journal is
only ever replayed to the server it was meant for.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from assay.client._base import RETRY_STATUSES
from assay.client.journal import Journal
from assay.errors import AssayError

SendBatch = Callable[[list[dict[str, Any]]], None]


def default_directory(base_url: str, headers: dict[str, str]) -> Path:
    """``$ASSAY_HOME/traces/<digest of the server URL and credentials>``."""
    home = Path(os.environ.get("ASSAY_HOME") or Path.home() / ".assay").expanduser()
    key = f"{base_url}\n{headers.get('Authorization', '')}".encode()
    return home / "traces" / hashlib.sha256(key).hexdigest()[:16]


class Spool:
    """Trace batches waiting on disk, oldest first."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._seq = itertools.count()
        self._bytes: int | None = None  # what the directory holds, as far as we know

    def files(self) -> list[Path]:
        try:
            return sorted(self.directory.glob("*.jsonl"))
        except OSError:
            return []

    def size(self) -> int:
        total = 0
        for path in self.files():
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total

    def write(self, traces: list[dict[str, Any]]) -> bool:
        """Journal one batch; False when the journal is full (or the disk refuses)."""
        if self._bytes is None:
            self._bytes = self.size()
        if self._bytes >= self.max_bytes:
            return False
        name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):08d}.jsonl"
        header = {"kind": "traces", "traces": len(traces)}
        try:
            journal = Journal.create(
                self.directory / name, header, traces, batch_size=max(len(traces), 1)
            )
            self._bytes += journal.path.stat().st_size
        except OSError:
            return False
        return True

    def replay(self, send: SendBatch, rejected: Callable[[int, BaseException], None]) -> int:
        """Send every journaled batch in order; the traces sent. Stops at (and raises) the
        first failure ``send`` raises, except one ``rejected`` accepts as final (that batch is
        dropped and the replay goes on)."""
        sent = 0
        for path in self.files():
            try:
                journal = Journal(path)
            except OSError:
                continue  # replayed and deleted by another process meanwhile
            pending = journal.pending()
            for batch in pending:
                traces = journal.batches[batch]
                try:
                    send(traces)
                    sent += len(traces)
                except Exception as exc:
                    if not is_final(exc):
                        raise
                    rejected(len(traces), exc)
                if batch != pending[-1]:  # the file goes once its last batch is sent
                    with contextlib.suppress(OSError):
                        journal.ack(batch)
            with contextlib.suppress(OSError):
                path.unlink()
        self._bytes = None  # counted again at the next write
        return sent


def is_final(exc: BaseException) -> bool:
    """Whether a failed send is the server refusing the batch (trying again cannot help), as
    opposed to the server being unreachable, overloaded or failing."""

    if isinstance(exc, httpx.TransportError):
        return False
    if isinstance(exc, AssayError):
        status = exc.details.get("status", exc.status)
        return isinstance(status, int) and 400 <= status < 500 and status not in RETRY_STATUSES
    return True


__all__ = ["Spool", "default_directory", "is_final"]
