"""Blocking forms of coroutines: :func:`run_sync`, for every sync entry point.

``asyncio.run`` refuses to start inside a running event loop (a notebook, an async app, an
``async def`` test), so there the coroutine runs on a helper thread with its own loop while
the caller's thread waits. The loop is uvloop's where it is installed: its timers and
callbacks cost a fraction of asyncio's pure-Python ones, which matters to a run of a thousand
concurrent calls. ``ASSAY_EVENT_LOOP=asyncio`` keeps asyncio's own. Imports nothing from
assay, so every layer can use it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop sync entry points run on: uvloop's when installed and not turned off
    with ``ASSAY_EVENT_LOOP=asyncio``; None (asyncio's default) otherwise."""
    choice = os.environ.get("ASSAY_EVENT_LOOP", "").strip().lower()
    if choice not in ("", "uvloop", "asyncio"):
        raise ValueError(f"ASSAY_EVENT_LOOP must be uvloop or asyncio, not {choice!r}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise RuntimeError("ASSAY_EVENT_LOOP=uvloop, but uvloop is not installed") from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        factory = loop_factory()
    except BaseException:
        coro.close()  # never started: no "was never awaited" warning on top of the error
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def run_sync(coro: Coroutine[Any, Any, T], *, name: str = "assay-sync") -> T:
    """Run ``coro`` to completion and return its result (or raise its exception).

    Outside an event loop: run on a new loop. Inside one: on a new loop on a helper thread
    (named ``name``) that the caller waits for. A Ctrl-C surfaces as a plain
    ``KeyboardInterrupt``, without asyncio's internals chained to it.
    """
    if not loop_running():  # (asyncio.run outside the except: no chained "no running loop")
        try:
            return _run(coro)
        except KeyboardInterrupt:
            raise KeyboardInterrupt from None
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = _run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=name)
    thread.start()
    thread.join()
    if "error" in box:
        error: BaseException = box["error"]
        if isinstance(error, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise error
    result: T = box["result"]
    return result


def loop_running() -> bool:
    """Whether this thread is running an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
