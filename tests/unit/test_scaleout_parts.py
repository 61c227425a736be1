"""Cutting a run's work into shards while it is read (plain Python: no Ray needed)."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterator

import pytest

from assay.domain import WorkItem
from assay.scaleout.parts import PartReader, part_sizes


def _old_split(work: list[int], n: int) -> list[list[int]]:
    """How the driver cut its work list before: ``ceil(len / n)`` contiguous items a part."""
    size = math.ceil(len(work) / n) if work else 0
    return [list(work[i : i + size]) for i in range(0, len(work), size)] if size else []


@pytest.mark.parametrize("total", [0, 1, 2, 9, 10, 49, 100, 101, 299, 1000, 100_000])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 50])
def test_part_sizes_are_the_parts_the_work_list_was_cut_into(total: int, n: int) -> None:
    expected = [len(part) for part in _old_split(list(range(total)), n)]
    assert part_sizes(total, n) == expected
    assert sum(part_sizes(total, n)) == total


def _items(n: int) -> list[WorkItem]:
    return [WorkItem(f"r{i}", f"i{i}", 0, i, None, None, {}, []) for i in range(n)]


class _Watched:
    """An iterable of work that records the thread each item is read on and how many were."""

    def __init__(self, items: list[WorkItem]) -> None:
        self.items = items
        self.read = 0
        self.threads: set[int] = set()
        self.closed = False

    def __iter__(self) -> Iterator[WorkItem]:
        try:
            for item in self.items:
                self.read += 1
                self.threads.add(threading.get_ident())
                yield item
        finally:
            self.closed = True


def test_parts_are_read_in_order_in_chunks_off_the_loop() -> None:
    work = _Watched(_items(25))

    async def main() -> list[list[str]]:
        reader = PartReader(work, chunk=4)
        parts = []
        for size in part_sizes(25, 3):
            part = await reader.read(size, lambda: False)
            assert work.read == sum(len(p) for p in parts) + len(part)  # nothing read ahead
            parts.append([w.result_id for w in part])
        await reader.close()
        return parts

    parts = asyncio.run(main())
    ids = [f"r{i}" for i in range(25)]
    assert parts == [ids[0:9], ids[9:18], ids[18:25]]
    assert threading.get_ident() not in work.threads  # the loop's thread never read
    assert work.closed


def test_a_stop_ends_the_part_at_the_next_chunk_and_close_ends_the_work() -> None:
    work = _Watched(_items(100))
    stopped = threading.Event()

    async def main() -> tuple[list[WorkItem], list[WorkItem]]:
        reader = PartReader(work, chunk=10)
        first = await reader.read(50, lambda: work.read >= 20)  # stops after two chunks
        stopped.set()
        second = await reader.read(50, stopped.is_set)
        await reader.close()
        return first, second

    first, second = asyncio.run(main())
    assert len(first) == 20
    assert second == []
    assert work.read == 20
    assert work.closed


def test_a_short_work_gives_short_parts() -> None:
    async def main() -> list[int]:
        reader = PartReader(_items(5), chunk=2)
        got = [len(await reader.read(4, lambda: False)) for _ in range(3)]
        await reader.close()
        return got

    assert asyncio.run(main()) == [4, 1, 0]


def test_a_cancelled_read_ends_before_the_work_is_closed() -> None:
    """The run's task cancelled mid-read: the read on its thread ends, then close() closes the
    work (a generator cannot be closed while another thread runs it)."""
    entered, release = threading.Event(), threading.Event()

    class Slow(_Watched):
        def __iter__(self) -> Iterator[WorkItem]:
            try:
                for item in self.items:
                    if self.read == 3:
                        entered.set()
                        release.wait(5)
                    self.read += 1
                    yield item
            finally:
                self.closed = True

    work = Slow(_items(10))

    async def main() -> None:
        reader = PartReader(work, chunk=10)
        task = asyncio.ensure_future(reader.read(10, lambda: False))
        await asyncio.to_thread(entered.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not work.closed
        threading.Timer(0.1, release.set).start()
        await reader.close()  # waits for the read, then closes
        assert work.closed

    asyncio.run(main())
    assert work.read == 10
