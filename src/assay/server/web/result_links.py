"""Addresses of a run's results table: its tab, order, search and page, kept across clicks."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode


def results_link(run_id: str, outcome: str, sort: str, search: str | None) -> Callable[..., str]:
    """``link(sort=..., cursor=...)``: this view's address with some parts changed; a new
    order or search starts again at the first page."""
    base = {"outcome": outcome, "sort": sort, "q": search or ""}

    def link(**changes: str | None) -> str:
        params = base | changes
        if "cursor" not in changes:
            params.pop("cursor", None)
        shown = {k: v for k, v in params.items() if v and not (k == "sort" and v == "position")}
        return f"/runs/{run_id}?{urlencode(shown)}"

    return link


def next_sort(current: str, field: str, *, descending_first: bool = False) -> str:
    """The order a header click asks for: its field ascending, or flipped when already sorted
    by it (``descending_first`` for columns people read largest first)."""
    if current == field:
        return "-" + field
    if current == "-" + field:
        return field
    return "-" + field if descending_first else field
