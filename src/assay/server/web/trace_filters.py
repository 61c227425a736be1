"""The traces list's filters as the page's URL carries them, parsed into a ``TraceQuery``.

Every field is text (a form sends empty ones too); times are UTC ``YYYY-MM-DDTHH:MM`` (what a
``datetime-local`` input sends) or a quick range (``range=1h``) counted back from now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from assay.domain import TraceQuery
from assay.errors import InvalidInput, from_validation

RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
RANGE_LABELS = {"": "any time", "1h": "last hour", "24h": "last day", "7d": "last week"}
FIELDS = (
    "q",
    "name",
    "user",
    "session",
    "tag",
    "model",
    "errors",
    "score",
    "score_min",
    "score_max",
    "range",
    "from",
    "to",
)


@dataclass(frozen=True)
class Filters:
    """The filter fields as typed (to show them again) and what they mean."""

    values: Mapping[str, str]
    query: TraceQuery

    @property
    def active(self) -> bool:
        return any(self.values.get(k) for k in FIELDS)

    def url(self, path: str = "/traces", **extra: str | None) -> str:
        """``path`` with these filters (and ``extra``) as its query."""
        pairs = [(k, v) for k, v in self.values.items() if v]
        pairs += [(k, v) for k, v in extra.items() if v]
        return f"{path}?{urlencode(pairs)}" if pairs else path


def _time(text: str, field: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field}: {text!r} is not a time (YYYY-MM-DDTHH:MM, UTC)", field=field
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _number(text: str, field: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{field}: {text!r} is not a number", field=field) from None


def parse(params: Mapping[str, Any], now: datetime | None = None) -> Filters:
    """The filters of a page's query string (or a form that includes them)."""
    values = {k: str(params.get(k) or "").strip() for k in FIELDS}
    since = _time(values["from"], "from")
    until = _time(values["to"], "to")
    if values["range"]:
        if values["range"] not in RANGES:
            raise InvalidInput(
                f"range: {values['range']!r} is not one of {', '.join(RANGES)}", field="range"
            )
        since, until = (now or datetime.now(UTC)) - RANGES[values["range"]], None
    try:
        query = TraceQuery(
            search=values["q"] or None,
            name=values["name"] or None,
            user_id=values["user"] or None,
            session_id=values["session"] or None,
            tags=[t.strip() for t in values["tag"].split(",") if t.strip()],
            model=values["model"] or None,
            errors=values["errors"] in ("1", "on", "true"),
            score_name=values["score"] or None,
            score_min=_number(values["score_min"], "score_min"),
            score_max=_number(values["score_max"], "score_max"),
            since=since,
            until=until,
        )
    except ValidationError as exc:
        raise from_validation(exc) from None
    return Filters(values, query)
