"""Run options and live progress counters."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assay.domain import RunSettings


@dataclass
class RunOptions:
    """How to run: concurrency, retries, timeouts, limits, budget, cache, batching."""

    concurrency: int = 10
    max_retries: int = 5
    backoff_base: float = 2.0
    backoff_max: float = 60.0
    timeout: float | None = None  # per attempt; None: the target's own (HTTP 30 s, LLM 120 s)
    rpm: int | None = None
    tpm: int | None = None
    adaptive_concurrency: bool = True
    max_cost: float | None = None
    cache: bool = False
    traces: bool = True  # record a trace of each call with its result
    retry_errors: bool = False
    batch_size: int = 2000
    flush_interval: float = 0.05
    poll_interval: float = 0.5
    heartbeat_interval: float = 5.0
    stale_after: float = 30.0
    # "thread", "process", or "auto": a process for a run of process_writer_min results or more
    # at a concurrency of process_writer_concurrency or more (below it the thread is faster)
    writer: str = "auto"
    process_writer_min: int = 10_000
    process_writer_concurrency: int = 1000
    worker: str | None = (
        None  # runner identity; a worker that already claimed the run passes its own
    )
    clock: Callable[[], float] = field(default=time.monotonic)  # seconds, for lease checks

    @classmethod
    def from_settings(cls, settings: RunSettings, **extra: Any) -> RunOptions:
        """The engine's options from the validated run settings every surface parses
        (``trials`` is the plan's, not the runner's), plus engine-only ``extra``."""
        values: dict[str, Any] = {
            "concurrency": settings.concurrency,
            "max_retries": settings.max_retries,
            "backoff_base": settings.backoff.base,
            "backoff_max": settings.backoff.max,
            "timeout": settings.timeout,
            "rpm": settings.rpm,
            "tpm": settings.tpm,
            "adaptive_concurrency": settings.adaptive_concurrency,
            "max_cost": settings.max_cost,
            "cache": settings.cache,
        }
        return cls(**{**values, **extra})


@dataclass
class Progress:
    """Live counters, read by progress bars (updated on the event loop)."""

    total: int = 0
    done: int = 0
    completed: int = 0
    failed: int = 0
    cached: int = 0
    retries: int = 0
    cost: float = 0.0
    judge_cost: float = 0.0
    written: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0
