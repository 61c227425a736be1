"""Numbers in words for people: counts with their noun, and money with enough digits.

The CLI, the dashboard and the reports all print through these, so a count reads the same
everywhere ("1 regression", "2 regressions") and a cost of $0.000123 never shows as $0.00.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``count`` with ``noun`` in the right number: ``1 item``, ``0 items``, ``2 items``.

    Give ``plural_form`` for a noun that does not take an ``s`` (``plural(n, "entry",
    "entries")``).
    """
    word = noun if count == 1 else (plural_form or noun + "s")
    return f"{count} {word}"


def usd(value: float | None, *, missing: str = "—") -> str:
    """A cost in US dollars with at least three significant digits below one dollar.

    ``$12.35``, ``$0.1235``, ``$0.00669``, ``$0.000123``; cents from a dollar up, and
    ``missing`` for no value.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    size = abs(value)
    if size >= 1:
        return f"${value:,.2f}"
    if size == 0:
        return "$0.00"
    if size < 1e-9:
        return f"${value:.2e}"
    decimals = max(4, 2 - math.floor(math.log10(size)))
    return f"${value:.{decimals}f}"


__all__ = ["plural", "usd"]


def sequential_note(metadata: Mapping[str, Any]) -> str | None:
    """One line on a sequential run (``metadata["sequential"]``): its baseline and settings,
    and why it stopped (or that it ran to the end); None for any other run."""
    spec = metadata.get("sequential")
    if not isinstance(spec, Mapping):
        return None
    baseline = spec.get("baseline_name") or spec.get("baseline")
    settings = f"{spec.get('metric')}, alpha {spec.get('alpha')}"
    if spec.get("margin"):
        settings += f", margin {spec.get('margin')}"
    line = f"sequential vs {baseline} ({settings}, seed {spec.get('seed')})"
    outcome = spec.get("outcome")
    if not isinstance(outcome, Mapping):
        return line
    if outcome.get("stopped"):
        line += f": {outcome.get('reason')}"
    else:
        line += f": ran to the end, {outcome.get('reason')}"
    low, high, mean = outcome.get("lower"), outcome.get("upper"), outcome.get("mean_difference")
    if isinstance(mean, int | float) and isinstance(low, int | float):
        line += f"; difference {mean:+.3f}, always-valid interval [{low:+.3f}, {high:+.3f}]"
    return line
