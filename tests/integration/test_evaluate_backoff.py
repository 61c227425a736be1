"""evaluate(backoff=...) sets the wait between retries, as ``backoff:`` does in a run config."""

from __future__ import annotations

from typing import Any

import pytest

import assay
from assay.engine.retry import RetryPolicy
from assay.errors import InvalidInput
from assay.store import Store

ROWS = [{"input": "a", "expected_output": "a"}, {"input": "b", "expected_output": "b"}]


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    """The (base, cap) of the retry policy each time the engine asks how long to wait."""
    seen: list[tuple[float, float]] = []

    def delay(self: RetryPolicy, attempt: int, retry_after: float | None = None) -> float:
        seen.append((self.base, self.cap))
        return 0.0  # no real waiting in tests

    monkeypatch.setattr(RetryPolicy, "delay", delay)
    return seen


def fails_once() -> Any:
    calls: dict[str, int] = {}

    def task(text: str) -> str:
        calls[text] = calls.get(text, 0) + 1
        if calls[text] == 1:
            raise TimeoutError
        return text

    return task


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [({"base": 0.25, "max": 3}, (0.25, 3.0)), (0.5, (0.5, 60.0)), (None, (2.0, 60.0))],
)
def test_backoff_reaches_the_retry_policy(
    store: Store,
    waits: list[tuple[float, float]],
    backoff: Any,
    expected: tuple[float, float],
) -> None:
    options: dict[str, Any] = {} if backoff is None else {"backoff": backoff}
    result = assay.evaluate(ROWS, fails_once(), ["exact_match"], store=store, **options)
    assert result.summary.completed == 2
    assert waits == [expected, expected]  # one retry per item, each with this backoff


@pytest.mark.parametrize("backoff", [{"base": -1}, {"bass": 1}, "2s"])
def test_a_bad_backoff_is_refused_naming_it(store: Store, backoff: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        assay.evaluate(ROWS, fails_once(), store=store, backoff=backoff)
    assert str(caught.value.field).startswith("backoff")
