"""The work cut into shards while it is read, so the first shard leaves before the rest is read.

A run's work may be streamed from the store (:class:`~assay.store.plan_stream.StreamedWork`):
its length is known from the plan, its items are read page by page. The driver cuts it by
position: :func:`part_sizes` gives each shard's size from the length alone, and
:class:`PartReader` reads the parts one after the other, a chunk at a time on a thread, so the
event loop never waits on a read and a stop is seen between two chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import Callable, Iterable, Iterator

from assay.domain import WorkItem

CHUNK = 2_000  # work items per read on a thread (a streamed plan's page)


def part_sizes(total: int, n: int) -> list[int]:
    """The sizes of ``total`` results cut into ``n`` contiguous parts of nearly equal size:
    ``ceil(total / n)`` each, the last what is left (so there may be fewer than ``n``)."""
    size = math.ceil(total / n) if total else 0
    return [min(size, total - start) for start in range(0, total, size)] if size else []


def _take(items: Iterator[WorkItem], n: int) -> list[WorkItem]:
    return list(itertools.islice(items, n))


class PartReader:
    """``work`` read part after part, in order, each a chunk at a time on a thread."""

    def __init__(self, work: Iterable[WorkItem], chunk: int = CHUNK) -> None:
        self._items = iter(work)
        self._chunk = chunk
        self._reading: asyncio.Future[list[WorkItem]] | None = None

    async def read(self, size: int, stop: Callable[[], bool]) -> list[WorkItem]:
        """The next ``size`` items, fewer when the work ends first; once ``stop()`` is true,
        what was read of the part so far."""
        part: list[WorkItem] = []
        while len(part) < size and not stop():
            n = min(self._chunk, size - len(part))
            self._reading = asyncio.ensure_future(asyncio.to_thread(_take, self._items, n))
            chunk = await asyncio.shield(self._reading)  # cancelled: the read still ends
            if not chunk:
                break
            part.extend(chunk)
        return part

    async def close(self) -> None:
        """No more reading: a read in progress ends first (also when the run was cancelled),
        then the work's iterator is closed (a streamed plan's reader thread stops)."""
        reading, self._reading = self._reading, None
        if reading is not None:
            with contextlib.suppress(Exception):  # raised already, or to nobody: the run ends
                await asyncio.shield(reading)
        close = getattr(self._items, "close", None)
        if close is not None:
            close()
