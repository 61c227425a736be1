"""The import process: reads a large file and builds its item rows on a CPU of its own.

Importing a file is two jobs of about equal weight: parsing it into items and building their
rows (checks, JSON, input keys), then inserting the rows. In one interpreter they take turns;
for a file of :data:`PROCESS_MIN_BYTES` or more, this process does the first while the
importing process inserts, so the import runs at about the speed of the inserts alone. The
importing process starts it before its write transaction (its imports overlap with that), then
sends one frame (``assay.store.writer_process``'s framing: a 4-byte length and a pickle),
``(path, format, mapping, spec, batch_size)`` with the dataset's
:class:`~assay.store.item_import.RowSpec` read under the write lock, and reads back
``("rows", batch)`` frames, then ``("end", count, next_sort_order)``, or ``("invalid",
message, details)`` for a bad row (the importer raises it and rolls back: nothing is stored),
or ``("failed", reason)``. Those hold only plain values, so they travel as :mod:`marshal`
data, made in a third of pickle's time (the same interpreter runs both ends).
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from assay.errors import InvalidInput, StorageError
from assay.interpreter import can_run_modules, module_command
from assay.store.bulk import Batch
from assay.store.item_import import RowBuilder, RowSpec
from assay.store.writer_process import read_frame, write_frame

#: Files from this size are parsed by an import process (below it, its start costs more than
#: it saves).
PROCESS_MIN_BYTES = 16 << 20
BATCH = 5_000


def wanted(size: int) -> bool:
    """Whether a file of ``size`` bytes is worth an import process, and one can start here."""
    return size >= PROCESS_MIN_BYTES and can_run_modules()


class ProcessRows:
    """The rows of a file's items, built by an import process (started at once)."""

    def __init__(
        self, path: Path, format: str, mapping: Mapping[str, str] | None, batch_size: int = BATCH
    ) -> None:
        self.request: tuple[Any, ...] = (
            str(path),
            format,
            dict(mapping) if mapping else None,
            batch_size,
        )
        command, env = module_command(__name__)
        # Its last words go to a file: a pipe nobody reads while the rows flow could fill up.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env
        )
        self.count = 0
        self.sort_order = 0

    def __call__(self, spec: RowSpec) -> ProcessRows:
        """Start building the rows for the dataset ``spec`` describes."""
        assert self.proc.stdin is not None
        path, format, mapping, batch_size = self.request
        write_frame(self.proc.stdin, (path, format, mapping, spec, batch_size))
        self.proc.stdin.close()
        self.sort_order = spec.next_sort_order
        return self

    def __iter__(self) -> Iterator[Batch]:
        assert self.proc.stdout is not None
        while (frame := read_frame(self.proc.stdout, marshal.loads)) is not None:
            kind = frame[0]
            if kind == "rows":
                yield frame[1]
            elif kind == "end":
                self.count, self.sort_order = frame[1], frame[2]
                return
            elif kind == "invalid":
                raise InvalidInput(frame[1], **frame[2])
            else:
                raise StorageError(f"import process failed: {frame[1]}")
        self.proc.wait()
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        raise StorageError(f"import process failed: {lines[-1] if lines else 'no output'}")

    def close(self) -> None:
        """Stop the process if it still runs (the import failed or was interrupted)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.stderr):
            if pipe is not None:
                pipe.close()


def serve(stdin: Any, stdout: Any) -> None:
    request = read_frame(stdin)
    if request is None:  # the importer gave up before its transaction began
        return
    from assay.io._api import _read  # the parsers, once there is something to parse

    path, format, mapping, spec, batch_size = request
    try:
        with open(path, "rb") as stream:
            built = RowBuilder(spec, _read(stream, format, mapping), batch_size=batch_size)
            for batch in built:
                write_frame(stdout, ("rows", batch), marshal.dumps)
        write_frame(stdout, ("end", built.count, built.sort_order), marshal.dumps)
    except InvalidInput as exc:
        details = orjson.loads(orjson.dumps(exc.details, default=str))  # as the API shows them
        write_frame(stdout, ("invalid", exc.message, details), marshal.dumps)
    except Exception as exc:  # reported to the importer, which fails the import
        write_frame(stdout, ("failed", f"{type(exc).__name__}: {exc}"), marshal.dumps)


def main() -> None:
    serve(sys.stdin.buffer, sys.stdout.buffer)
    sys.stdout.flush()
    os._exit(0)  # everything is reported: skip the interpreter's teardown


if __name__ == "__main__":
    main()
