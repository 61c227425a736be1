"""Garbage-collector settings for the length of a run.

A run allocates a few small objects per item (a planned item, a completion, its scores). With
the default thresholds CPython runs a collection every 700 allocations and now and then walks
the whole heap, which on a large run costs more than the run's own work. While any run is
active the young-generation threshold is raised and the objects that existed before the run
are frozen out of collections; both are restored when the last active run ends. Reference
counting still frees everything as usual; only cycle detection runs less often.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] | None = None


@contextmanager
def relaxed_gc() -> Iterator[None]:
    global _active, _saved
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            first, second, third = _saved
            gc.set_threshold(max(first, 50_000), max(second, 20), max(third, 20))
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _saved is not None:
                gc.set_threshold(*_saved)
                gc.unfreeze()
                _saved = None
