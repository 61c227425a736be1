"""The live progress bar of a running experiment, and its Ctrl+C handling."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from assay.cli.context import console, err_console

if TYPE_CHECKING:
    from assay.domain import Experiment
    from assay.engine import Prepared, Runner


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        rate = task.fields.get("rate", 0.0)
        failed = task.fields.get("failed", 0)
        style = "red" if failed else "dim"
        return Text.assemble((f"{rate:,.0f} items/s", "cyan"), "  ", (f"{failed} failed", style))


async def drive(prepared: Prepared, *, show_progress: bool) -> Experiment:
    """Run with a live progress bar and Ctrl+C handling (graceful, then forced)."""
    runner: Runner = prepared.runner
    loop = asyncio.get_running_loop()
    presses = 0

    def on_interrupt() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            err_console.print(
                "stopping: letting in-flight calls finish (Ctrl+C again to cancel them)"
            )
            runner.cancel(reason="interrupted")
        else:
            runner.cancel(force=True, reason="interrupted")

    try:
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        installed = True
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
        installed = False
    task = asyncio.create_task(prepared.run())
    try:
        if not show_progress:
            return await task
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=False) as bar:
            bar_id = bar.add_task(prepared.experiment.name, total=None)
            while not task.done():
                p = runner.progress
                bar.update(
                    bar_id, total=p.total or None, completed=p.done, rate=p.rate, failed=p.failed
                )
                await asyncio.wait({task}, timeout=0.1)
            p = runner.progress
            bar.update(bar_id, total=p.total, completed=p.done, rate=p.rate, failed=p.failed)
        return await task
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGINT)
