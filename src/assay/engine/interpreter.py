"""Interpreter settings for the length of a run: the garbage collector and the GIL.

A run allocates a few small objects per item (a planned item, a completion, its scores). With
the default thresholds CPython runs a collection every 700 allocations and now and then walks
the whole heap, which on a large run costs more than the run's own work. While any run is
active the young-generation threshold is raised and the objects that existed before the run
are frozen out of collections. Reference counting still frees everything as usual; only cycle
detection runs less often.

The event loop shares the interpreter lock with the result writer's thread. A thread that
wants the lock back (the loop, woken by a timer or a socket) waits up to the switch interval
for it, 5 ms by default: with a thousand calls in flight that wait is added to every call.
While a run is active the interval is 1 ms. Both settings are restored when the last active
run ends.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_active = 0
_saved: tuple[int, int, int] | None = None
_saved_interval = 0.005
SWITCH_INTERVAL = 0.001  # seconds


@contextmanager
def tuned_for_runs() -> Iterator[None]:
    global _active, _saved, _saved_interval
    with _lock:
        if _active == 0:
            _saved = gc.get_threshold()
            _saved_interval = sys.getswitchinterval()
            if _saved_interval > SWITCH_INTERVAL:  # a shorter one the process chose stays
                sys.setswitchinterval(SWITCH_INTERVAL)
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
                if _saved_interval > SWITCH_INTERVAL:
                    sys.setswitchinterval(_saved_interval)
                _saved = None
