"""Blocking forms of coroutines: :func:`run_sync`, for every sync entry point.

``asyncio.run`` refuses to start inside a running event loop (a notebook, an async app, an
``async def`` test), so there the coroutine runs on a helper thread with its own loop while
the caller's thread waits. Imports nothing from assay, so every layer can use it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T], *, name: str = "assay-sync") -> T:
    """Run ``coro`` to completion and return its result (or raise its exception).

    Outside an event loop: ``asyncio.run``. Inside one: ``asyncio.run`` on a helper thread
    (named ``name``) that the caller waits for. A Ctrl-C surfaces as a plain
    ``KeyboardInterrupt``, without asyncio's internals chained to it.
    """
    if not loop_running():  # (asyncio.run outside the except: no chained "no running loop")
        try:
            return asyncio.run(coro)
        except KeyboardInterrupt:
            raise KeyboardInterrupt from None
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
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
