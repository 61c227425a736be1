"""Deterministic targets and scorers the Ray tests run on cluster workers (importable there)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import ray

from assay.domain import WorkItem
from assay.scoring import scorer

DOOMED_CALLS = 5  # calls that finish on the doomed node before the one that never does
STALL = 120.0  # seconds that call waits for its node to be killed before it gives up


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


def finished_calls(log: str | Path) -> list[tuple[str, str]]:
    """The calls :func:`shout_until_killed` finished, as (Ray node id, result id) pairs."""
    path = Path(log)
    text = path.read_text() if path.exists() else ""
    return [
        (node, result) for node, _, result in (line.partition(" ") for line in text.splitlines())
    ]


def shout_until_killed(doomed: str, log: str, text: Any, item: WorkItem) -> str:
    """:func:`slow_shout` that records each finished call in the file ``log``, except on the
    Ray node ``doomed``: there, once :data:`DOOMED_CALLS` calls have finished, the next call
    waits (at most :data:`STALL` seconds) for the node to be killed. Bind the first two
    arguments with ``functools.partial``: a shard on that node is then always mid-run when
    the test kills it, however slowly the machine runs."""
    node = ray.get_runtime_context().get_node_id()
    if node == doomed:
        done = sum(1 for n, _ in finished_calls(log) if n == node)
        if done >= DOOMED_CALLS:
            time.sleep(STALL)
            raise RuntimeError(f"node {node} was not killed within {STALL:g} s")
    time.sleep(0.02)
    with open(log, "a") as f:  # one short appended line: whole, whatever process writes
        f.write(f"{node} {item.result_id}\n")
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


async def shout_past_gate(gate: str, first: int, text: Any) -> str:
    """:func:`shout`, except that each item from ``item {first}`` on waits (at most
    :data:`STALL` seconds) for the file ``gate`` to exist. Bind the first two arguments with
    ``functools.partial``: a run of one call at a time per shard, each shard's items in order,
    then holds still with the results of the items before ``first`` stored until the test
    creates the file. (Async: sync calls run in chunks, which would hold finished calls back
    behind a waiting one.)"""
    if int(str(text).rpartition(" ")[2]) >= first:
        deadline = time.monotonic() + STALL
        while not Path(gate).exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"{gate} was not created within {STALL:g} s")
            await asyncio.sleep(0.02)
    return shout(text)
