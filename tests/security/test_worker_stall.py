"""A tenant cannot stall the shared worker with CPU work: templates and patterns are bounded.

Every template (prompt messages, HTTP bodies and URLs, judge criteria) renders within a budget
of steps and size; every user-supplied pattern (regex scorer, JSON Schema ``pattern``) runs on
a linear-time engine. Each attack used to take seconds per item.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from assay.config import Settings
from assay.domain import DatasetCreate, ItemCreate, PromptCreate
from assay.errors import InvalidInput
from assay.scoring import Sample, build
from assay.scoring.llm_judge import judge_messages, rubric_for
from assay.store import Store
from assay.targets.templating import RenderError, render_json, render_text
from tests.fakes.provider import FakeProvider
from tests.integration.experiment_support import run_worker

#: Seconds any one of these may take (they used to take 5 to 60).
QUICK = 1.0

BOMBS = {
    "huge range": "{% for i in range(100000000) %}{% endfor %}",
    "nested loops": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}"
    "{% endfor %}",
    "loop over a long string": "{% for c in 'ab' * 400000 %}{% for d in 'ab' %}{% endfor %}"
    "{% endfor %}",
    "repetition": "{{ 'a' * 1000000000 }}",
    "list repetition": "{{ ([0] * 100000000)|length }}",
    "power": "{{ 7 ** 100000000 }}",
    "wide filter": "{{ 'x'|center(1000000000) }}",
    "wide method": "{{ 'x'.ljust(1000000000) }}",
    "wide percent format": "{{ '%01000000000d' % 1 }}",
    "wide format filter": "{{ '%01000000000d'|format(1) }}",
    "wide str.format": "{{ '{:>1000000000}'.format(1) }}",
    "doubling in a loop": (
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}"
    ),
    "doubling in a row": "{% set s = 'abcdefgh' %}" + "{% set s = s ~ s %}" * 48 + "{{ s }}",
    "quadratic replace": "{% set s = 'a' * 9000 %}{{ s|replace('a', s) }}",
    "huge output": "{% for i in range(10000) %}{% for j in range(8) %}"
    + "x" * 4000
    + "{% endfor %}{% endfor %}",
    "recursive macro": (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    ),
}


@contextmanager
def quick() -> Iterator[None]:
    start = time.perf_counter()
    yield
    assert time.perf_counter() - start < QUICK


@pytest.mark.parametrize("template", list(BOMBS.values()), ids=list(BOMBS))
def test_template_bombs_stop_at_once(template: str) -> None:
    with quick(), pytest.raises(RenderError, match="template"):
        render_text(template, {})
    with quick(), pytest.raises(RenderError):
        render_json({"body": template}, {})


def test_ordinary_templates_still_render() -> None:
    values = {"name": "Ann", "items": list(range(50)), "text": "Call 5551234567 {x} 100%"}
    template = (
        "Hi {{ name }}: {% for i in items %}{{ i }},{% endfor %} {{ '%05.1f' % 3.14159 }} "
        "{{ text|replace('Call', 'Phone') }} {{ 'x' * 3 }} {{ '{:>4}|'.format(7) }} "
        "{{ items|sum }} {{ 2 ** 10 }} {{ text|upper|truncate(12) }}"
    )
    assert render_text(template, values).startswith("Hi Ann: 0,1,2,")
    assert render_json("{{ items[:3] }}", values) == [0, 1, 2]


def test_judge_criteria_are_bounded() -> None:
    rubric = rubric_for("custom", criteria=BOMBS["nested loops"])
    with quick(), pytest.raises(InvalidInput) as info:
        judge_messages(rubric, Sample(input="q", output="a"))
    assert info.value.field == "params.criteria"


EVIL_PATTERN = "(a+)+$"
EVIL_TEXT = "a" * 30 + "b"


def test_regex_scorer_runs_in_linear_time() -> None:
    scorer = build({"kind": "regex", "params": {"pattern": EVIL_PATTERN}})
    with quick():
        score = scorer.score(Sample(input="q", output=EVIL_TEXT * 1000))
    assert score.passed is False  # type: ignore[union-attr]
    as_expected = build({"kind": "regex", "params": {}})
    with quick():
        as_expected.score(Sample(input="q", output=EVIL_TEXT, expected_output=EVIL_PATTERN))


def test_json_schema_patterns_run_in_linear_time() -> None:
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": EVIL_PATTERN}},
        "patternProperties": {EVIL_PATTERN: {"type": "string"}},
    }
    scorer = build({"kind": "json_schema", "params": {"schema": schema}})
    with quick():
        score = scorer.score(Sample(input="q", output=f'{{"code": "{EVIL_TEXT}"}}'))
    assert score.passed is False  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("regex", {"pattern": r"(\w)\1"}),
        ("regex", {"pattern": "(?=a)b"}),
        ("json_schema", {"schema": {"type": "string", "pattern": "(?<!a)b"}}),
    ],
)
def test_backtracking_only_patterns_are_refused_on_save(
    http: TestClient, kind: str, params: dict[str, object]
) -> None:
    saved = http.post("/api/v1/evaluators/", json={"name": "p", "kind": kind, "params": params})
    assert saved.status_code == 422, saved.text
    assert "linear-time" in saved.json()["error"]["message"]


def test_a_bomb_prompt_fails_its_items_quickly(
    http: TestClient, store: Store, api_settings: Settings, fake: FakeProvider
) -> None:
    dataset = store.datasets.create(DatasetCreate(name="stall"))
    store.datasets.add_items(dataset.id, [ItemCreate(input={"q": str(i)}) for i in range(5)])
    store.prompts.create(PromptCreate(name="bomb", template=BOMBS["nested loops"]))
    regex = {"kind": "regex", "params": {"pattern": EVIL_PATTERN}}
    body = {
        "name": "stall",
        "dataset_id": dataset.id,
        "config": {"prompt_name": "bomb", "model": "m", "base_url": fake.openai_url},
        "scorers": [regex],
    }
    created = http.post("/api/v1/experiments/", json=body)
    assert created.status_code == 201, created.text
    assert http.post(f"/api/v1/experiments/{created.json()['id']}/start/").status_code == 200
    start = time.perf_counter()
    run_worker(store, api_settings)
    assert time.perf_counter() - start < 10 * QUICK
    results = http.get(f"/api/v1/experiments/{created.json()['id']}/results/").json()
    errors = [r["error"] for r in results["results"]]
    assert len(errors) == 5
    assert all("template too expensive" in (e or "") for e in errors)
    assert fake.requests == []
