"""read_ahead: pages read on a helper thread, in order, with errors where they happened."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from assay.store.read_ahead import read_ahead


def wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_yields_every_page_in_order_from_another_thread() -> None:
    readers: set[str] = set()

    def pages() -> Iterator[int]:
        for n in range(50):
            readers.add(threading.current_thread().name)
            yield n

    assert list(read_ahead(pages(), depth=3, name="assay-test-reader")) == list(range(50))
    assert readers == {"assay-test-reader"}


def test_an_error_comes_out_where_its_page_would_have() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("page 3 unreadable")

    ahead = read_ahead(pages())
    assert [next(ahead), next(ahead)] == [1, 2]
    with pytest.raises(RuntimeError, match="page 3 unreadable"):
        next(ahead)


def test_reads_no_further_than_depth_ahead() -> None:
    read: list[int] = []

    def pages() -> Iterator[int]:
        for n in range(100):
            read.append(n)
            yield n

    ahead = read_ahead(pages(), depth=2)
    assert next(ahead) == 0
    wait_for(lambda: len(read) >= 3)  # the one taken, two queued, one waiting to be put
    time.sleep(0.05)
    assert len(read) <= 4
    ahead.close()


def test_closing_stops_the_reader_and_closes_the_source() -> None:
    closed = threading.Event()

    def pages() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    ahead = read_ahead(pages(), depth=1, name="assay-test-closing")
    assert [next(ahead), next(ahead)] == [0, 1]
    ahead.close()
    assert closed.wait(5)
    wait_for(lambda: all(t.name != "assay-test-closing" for t in threading.enumerate()))
