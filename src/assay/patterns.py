"""User-supplied regular expressions, run by a linear-time engine (RE2).

Python's ``re`` backtracks: ``(a+)+$`` against two dozen characters takes seconds, and a
tenant's pattern runs on a shared worker. RE2 matches in time linear in the text, always; in
exchange it has no backreferences or lookaround, which are refused with a clear message.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are raised, not also printed


class PatternError(ValueError):
    """A pattern RE2 cannot compile (bad syntax, or a backtracking-only feature)."""


@lru_cache(maxsize=512)
def compile_pattern(
    pattern: str, *, ignore_case: bool = False, multiline: bool = False, dotall: bool = False
) -> Any:
    """A compiled pattern with ``search``, ``fullmatch`` and ``match`` like ``re``'s."""
    flags = "".join(f for f, on in (("i", ignore_case), ("m", multiline), ("s", dotall)) if on)
    try:
        return re2.compile(f"(?{flags}){pattern}" if flags else pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        raise PatternError(
            f"{reason} (patterns run on a linear-time engine: no backreferences or lookaround)"
        ) from None


def search(pattern: str, text: str) -> bool:
    """Whether ``pattern`` is found in ``text``."""
    return compile_pattern(pattern).search(text) is not None
