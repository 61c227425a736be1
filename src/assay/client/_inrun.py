"""Recording into a running ``evaluate()`` target instead of exporting.

Inside a target the engine collects the task's steps (``assay.span``) and stores them under
that result's trace. The SDK's observations made there (``@assay.observe``, ``client.trace``)
become steps of the same list, so they land under the result's trace, add their tokens and
cost to the result's, and are not exported a second time.

The SDK does not import the engine: the step recorder lives in ``assay.targets.spans``, and
when that module was never imported no run can be recording, so looking it up in
``sys.modules`` is both the test and the way in.
"""

from __future__ import annotations

import sys
from contextvars import Token
from typing import Any

_RECORDER = "assay.targets.spans"


def recorder() -> Any | None:
    """The engine's step recorder when a target is running in this context, else None."""
    module = sys.modules.get(_RECORDER)
    if module is None or not module.active():
        return None
    return module


def open_step(
    module: Any, name: str, kind: str, input: Any, parent: int | None, *, nested: bool
) -> tuple[Any, int | None]:
    """A new step (``kind``: span, generation, tool or event) under ``parent`` — or, when
    ``nested``, under whatever step is open in this context — and its index."""
    step = module.Span(name or kind, kind if kind in module._TYPES else "span", input)
    index = module.attach(step) if nested else module.attach(step, parent)
    return step, index


def enter(module: Any, index: int | None) -> Token[int | None]:
    return module.enter(index)  # type: ignore[no-any-return]


def leave(module: Any, token: Token[int | None]) -> None:
    module.leave(token)


__all__ = ["enter", "leave", "open_step", "recorder"]
