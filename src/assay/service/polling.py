"""The loop every background worker runs: take work while there is some, else wait a little."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def poll(
    step: Callable[[], Awaitable[bool]],
    stopping: threading.Event,
    interval: float,
    *,
    until_idle: bool = False,
    failure: str,
) -> None:
    """Await ``step()`` until ``stopping`` is set: again at once while it found work, after
    ``interval`` seconds when it found none (with ``until_idle``, return then instead). A step
    that raises is logged with the message ``failure`` and counts as finding none: a database
    hiccup is looked at again after the interval."""
    while not stopping.is_set():
        try:
            busy = await step()
        except Exception:
            log.exception(failure)
            busy = False
        if busy:
            continue
        if until_idle:
            return
        await asyncio.to_thread(stopping.wait, interval)
