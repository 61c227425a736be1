"""Interpreter settings for the length of a run or a bulk write: the garbage collector and
the GIL; and how to start a helper process of this package (a writer, an import).

A run allocates a few small objects per item (a planned item, a completion, its scores), a
bulk write of dataset items a row per item. With the default thresholds CPython runs a
collection every 700 allocations and now and then walks the whole heap, which on a large run
or import costs more than its own work. While any of them is active the young-generation
threshold is raised and the objects that existed before it are frozen out of collections.
Reference counting still frees everything as usual; only cycle detection runs less often.

A run of async calls waits on its event loop, which shares the interpreter lock with the
result writer's thread. The loop, woken by a timer or a socket, waits up to the switch
interval for the lock, 5 ms by default: with a thousand calls in flight that wait is added to
every call. While such a run is active the interval is 1 ms. (Runs of sync functions keep the
default: their calls run on threads that all want the lock, and switching five times as often
costs them CPU.) Each setting is restored when the last run that changed it ends.
"""

from __future__ import annotations

import gc
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SWITCH_INTERVAL = 0.001  # seconds

_lock = threading.Lock()
_relaxed = 0
_saved_threshold: tuple[int, int, int] | None = None
_short = 0
_saved_interval: float | None = None


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Fewer cycle collections while any run, plan or bulk item write is active."""
    global _relaxed, _saved_threshold
    with _lock:
        if _relaxed == 0:
            _saved_threshold = gc.get_threshold()
            gc.freeze()
            first, second, third = _saved_threshold
            gc.set_threshold(max(first, 50_000), max(second, 20), max(third, 20))
        _relaxed += 1
    try:
        yield
    finally:
        with _lock:
            _relaxed -= 1
            if _relaxed == 0 and _saved_threshold is not None:
                gc.set_threshold(*_saved_threshold)
                gc.unfreeze()
                _saved_threshold = None


@contextmanager
def short_switch_interval() -> Iterator[None]:
    """The 1 ms switch interval while any run of async calls is active (a shorter one the
    process chose stays)."""
    global _short, _saved_interval
    with _lock:
        if _short == 0:
            current = sys.getswitchinterval()
            if current > SWITCH_INTERVAL:
                _saved_interval = current
                sys.setswitchinterval(SWITCH_INTERVAL)
        _short += 1
    try:
        yield
    finally:
        with _lock:
            _short -= 1
            if _short == 0 and _saved_interval is not None:
                sys.setswitchinterval(_saved_interval)
                _saved_interval = None


#: The file names of interpreters that run ``-m``: python3, python3.12, pythonw.exe, pypy3, ...
_INTERPRETER = re.compile(r"(python|pypy)[\d.]*w?(\.exe)?", re.IGNORECASE)


def can_run_modules() -> bool:
    """Whether ``sys.executable -m`` runs a module of this package here: not in a frozen
    application, nor where Python is embedded in another program (whose executable is that
    program's)."""
    name = os.path.basename(sys.executable or "")
    return not getattr(sys, "frozen", False) and _INTERPRETER.fullmatch(name) is not None


def module_command(module: str) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run ``module`` in a new interpreter importing what
    this one imports."""
    path = os.pathsep.join(p for p in sys.path if p)
    return [sys.executable, "-m", module], {**os.environ, "PYTHONPATH": path}
