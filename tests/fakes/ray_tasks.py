"""Deterministic targets and scorers the Ray tests run on cluster workers (importable there)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from assay.scoring import scorer


def shout(text: Any) -> str:
    """A deterministic target: the input upper-cased, every fifth one an error."""
    value = str(text)
    if value.endswith("4"):
        raise ValueError(f"no answer for {value}")
    return value.upper()


def slow_shout(text: Any) -> str:
    """:func:`shout` taking 20 ms, so a run lasts long enough to be disturbed."""
    time.sleep(0.02)
    return str(text).upper()


def hang(text: Any) -> str:
    """A call that takes a minute: a run of these only ends when it is cancelled."""
    time.sleep(60)
    return str(text)


@scorer
def length_ratio(output: Any) -> float:
    """A numeric score depending on the output only."""
    return len(str(output or "")) / 10.0


async def wait_50ms(text: Any) -> str:
    """An I/O-bound target: 50 ms waiting on the network, as it were."""
    await asyncio.sleep(0.05)
    return str(text)


def paraphrase(text: Any) -> str:
    """An instant target whose output a semantic-similarity scorer compares."""
    return f"the answer to {text} is here"
