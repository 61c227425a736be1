"""Pages read ahead on a thread of their own.

A run takes its items from the store a page at a time. Reading and parsing a page on the
event loop's thread would stop every call in flight for as long as the read takes. So the
pages are read on a helper thread, a few ahead of what the run has taken.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar, cast

T = TypeVar("T")

_END = object()
_POLL = 0.1  # seconds: how often a reader blocked on a full queue looks whether to stop


def read_ahead(
    pages: Iterable[T], depth: int = 2, *, name: str = "assay-read-ahead"
) -> Iterator[T]:
    """What ``pages`` yields, in order, read up to ``depth`` pages ahead on a daemon thread.

    An error raised while reading comes out of this generator where its page would have. Closing
    the generator (or dropping it) stops the reader, which closes ``pages`` on its own thread.
    """
    ready: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        source = iter(pages)
        try:
            for page in source:
                if not put((page, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((_END, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    threading.Thread(target=read, name=name, daemon=True).start()
    try:
        while True:
            page, error = ready.get()
            if error is not None:
                raise error
            if page is _END:
                return
            yield cast(T, page)
    finally:
        stop.set()
