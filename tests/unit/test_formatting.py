"""Counts with their noun and costs with enough digits, as every interface prints them."""

from __future__ import annotations

import pytest

from assay.formatting import plural, usd
from assay.server.web.templating import env


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 regressions"), (1, "1 regression"), (2, "2 regressions"), (1000, "1000 regressions")],
)
def test_plural_agrees_with_the_count(count: int, expected: str) -> None:
    assert plural(count, "regression") == expected


def test_plural_takes_an_irregular_form() -> None:
    assert plural(1, "entry", "entries") == "1 entry"
    assert plural(3, "entry", "entries") == "3 entries"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "—"),
        (0.0, "$0.00"),
        (0.000123, "$0.000123"),
        (0.0012345, "$0.00123"),
        (0.25, "$0.2500"),
        (1.5, "$1.50"),
        (1234.567, "$1,234.57"),
        (3e-12, "$3.00e-12"),
    ],
)
def test_usd_keeps_small_costs_visible(value: float | None, expected: str) -> None:
    assert usd(value) == expected


def test_usd_missing_text() -> None:
    assert usd(None, missing="") == ""


def test_dashboard_filters_are_the_shared_helpers() -> None:
    page = env.from_string('{{ n | plural("item") }} for {{ c | usd }}')
    assert page.render(n=1, c=0.000123) == "1 item for $0.000123"
