"""A page of one run's results as the dashboard's results table reads it: sorted by a column,
filtered by text, with cursors both ways."""

from __future__ import annotations

from pydantic import Field

from assay.domain.common import Record
from assay.domain.experiments import Result

#: Columns the results table sorts by; ``score:NAME`` sorts by one scorer's value.
RESULT_SORT_FIELDS = ("position", "latency", "cost", "tokens", "status")


class ResultTable(Record):
    """One page of results in ``sort`` order (``-`` first: descending; results without a value
    come last either way), optionally only those whose input, expected output or output
    contains ``search``."""

    results: list[Result]
    sort: str = Field(description="The order: position (plan order), a field, or score:NAME.")
    search: str | None
    next_cursor: str | None
    prev_cursor: str | None
    total: int | None = Field(
        description="Matching results, counted on the first page; None on later pages and for "
        "a search with more than one page of matches (counting would read every result)."
    )
    score_names: list[str] = Field(description="Every score name given in the run.")
