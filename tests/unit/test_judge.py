"""LLM-as-judge against the local fake provider: verdicts, malformed replies, retries, cost."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import pytest

from assay.engine import llm_judge
from assay.errors import InvalidInput
from assay.scoring import RUBRICS, Sample, create, parse_verdict, rubric_for, run_scorer
from assay.scoring.llm_judge import JudgeReplyError, judge_messages
from tests.fakes.provider import FakeProvider, Fault
from tests.unit.test_scorers_awkward import AWKWARD

FAST = {"backoff_base": 0.001, "backoff_max": 0.01}


def _section(prompt: str, name: str) -> str:
    found = re.search(rf"\[{name}\]\n(.*?)\n\n", prompt + "\n\n", re.S)
    return found.group(1).strip() if found else ""


def grader(prompt: str) -> str:
    """A judge that compares RESPONSE with REFERENCE, answering in a code fence."""
    if "[REFERENCE]" not in prompt:
        return '{"reason": "no reference given", "choice": "B"}'
    same = _section(prompt, "RESPONSE") == _section(prompt, "REFERENCE")
    verdict = {"reason": "matches" if same else "differs", "choice": "A" if same else "C"}
    return "Here is my verdict:\n```json\n" + json.dumps(verdict) + "\n```"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


@pytest.fixture
def fake(server: FakeProvider) -> FakeProvider:
    """The shared server, reset: the grading judge, no faults, no recorded requests."""
    server.reply = grader
    server.requests.clear()
    server._queue.clear()
    server._rules.clear()
    return server


def score(scorer: object, sample: Sample) -> list:  # type: ignore[type-arg]
    return asyncio.run(run_scorer(scorer, sample))  # type: ignore[arg-type]


def test_correctness_judge_on_openai(fake: FakeProvider) -> None:
    judge = llm_judge(
        model="gpt-4o-mini",
        base_url=fake.openai_url,
        api_key="sk-test",
        price={"input": 1e6, "output": 2e6},
    )
    [good] = score(judge, Sample(input="2+2?", output="4", expected_output="4"))
    [bad] = score(judge, Sample(input="2+2?", output="5", expected_output="4"))
    assert good.name == "judge_correctness"
    assert (good.value, good.passed, good.reason) == (1.0, True, "matches")
    assert (bad.value, bad.passed, bad.reason) == (0.0, False, "differs")
    assert good.metadata["choice"] == "A"
    assert good.metadata["judge"] == "openai:gpt-4o-mini"
    # the judge's own usage: words in the prompt and in the reply, priced at 1 and 2 per token
    assert good.tokens_in
    assert good.tokens_out
    assert good.cost == pytest.approx(good.tokens_in * 1 + good.tokens_out * 2)
    assert good.latency_ms is not None
    assert good.latency_ms > 0
    body = fake.requests[0].body
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.0
    assert body["messages"][0]["role"] == "system"


def test_judge_on_anthropic(fake: FakeProvider) -> None:
    judge = create(
        "llm_judge",
        model="claude-3-5-haiku-latest",
        provider="anthropic",
        base_url=fake.anthropic_url,
        api_key="ak-test",
    )
    [out] = score(judge, Sample(input="capital of France", output="Paris", expected_output="Paris"))
    assert (out.value, out.passed) == (1.0, True)
    request = fake.requests[0]
    assert request.path == "/v1/messages"
    assert "impartial evaluator" in request.body["system"]
    assert request.headers["x-api-key"] == "ak-test"
    assert out.tokens_in
    assert out.tokens_out


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("I think it is fine.", "no JSON verdict"),
        ('{"reason": "ok", "choice": "Z"}', "'Z', which is not one of A, B, C, D"),
        ("", "empty reply"),
        ('{"reason": "forgot the choice"}', "no JSON verdict"),
    ],
)
def test_malformed_reply_is_a_scorer_error_with_usage(
    fake: FakeProvider, reply: str, why: str
) -> None:
    fake.reply = lambda _: reply
    judge = llm_judge(model="gpt-4o-mini", base_url=fake.openai_url, api_key="k")
    [out] = score(judge, Sample(input="q", output="a", expected_output="a"))
    assert out.value is None
    assert out.passed is None
    assert out.reason is not None
    assert out.reason.startswith("scorer error:")
    assert why in out.reason
    assert out.tokens_in is not None  # the call happened and is accounted for
    assert out.metadata["reply"] == reply


def test_retries_transient_failures_then_scores(fake: FakeProvider) -> None:
    fake.script(Fault(429, retry_after=0), Fault(503), Fault(500))
    judge = llm_judge(model="m", base_url=fake.openai_url, api_key="k", **FAST)  # type: ignore[arg-type]
    [out] = score(judge, Sample(input="q", output="x", expected_output="x"))
    assert out.value == 1.0
    assert len(fake.requests) == 4
    assert judge.model.retries == 3  # type: ignore[attr-defined]


def test_client_errors_are_not_retried(fake: FakeProvider) -> None:
    fake.script(Fault(400))
    judge = llm_judge(model="m", base_url=fake.openai_url, api_key="k", **FAST)  # type: ignore[arg-type]
    [out] = score(judge, Sample(input="q", output="x", expected_output="x"))
    assert out.value is None
    assert out.reason is not None
    assert "400" in out.reason
    assert len(fake.requests) == 1


def test_retries_are_bounded(fake: FakeProvider) -> None:
    fake.script(*[Fault(500)] * 3)
    judge = llm_judge(
        model="m",
        base_url=fake.openai_url,
        api_key="k",
        max_retries=2,
        **FAST,  # type: ignore[arg-type]
    )
    [out] = score(judge, Sample(input="q", output="x", expected_output="x"))
    assert out.value is None
    assert "after 3 attempts" in (out.reason or "")
    assert len(fake.requests) == 3


def test_missing_reference_is_a_clear_error(fake: FakeProvider) -> None:
    judge = llm_judge(model="m", base_url=fake.openai_url, api_key="k")
    [out] = score(judge, Sample(input="q", output="x"))
    assert out.value is None
    assert "needs expected_output" in (out.reason or "")
    assert fake.requests == []


def test_custom_rubric_with_choices_and_variables(fake: FakeProvider) -> None:
    seen: list[str] = []

    def reply(prompt: str) -> str:
        seen.append(prompt)
        return '{"choice": "meh", "reason": "so-so"}'

    fake.reply = reply
    judge = llm_judge(
        model="m",
        rubric="custom",
        criteria="Is the answer polite for a {{ audience }} audience?",
        choices={"great": 1, "meh": 0.4, "bad": 0},
        pass_choices=["great", "meh"],
        base_url=fake.openai_url,
        api_key="k",
        name="politeness",
    )
    [out] = score(judge, Sample(input="hi", output="hello", variables={"audience": "kids"}))
    assert (out.name, out.value, out.passed, out.reason) == ("politeness", 0.4, True, "so-so")
    assert "polite for a kids audience" in seen[0]
    assert "great|meh|bad" in seen[0]


def test_rubric_validation() -> None:
    with pytest.raises(InvalidInput, match="unknown rubric") as err:
        rubric_for("vibes")
    assert err.value.field == "params.rubric"
    with pytest.raises(InvalidInput, match="criteria"):
        rubric_for("custom")
    with pytest.raises(InvalidInput, match="not among the choices"):
        rubric_for("correctness", pass_choices=["Z"])
    with pytest.raises(InvalidInput, match="must be a number"):
        rubric_for("helpfulness", choices={"good": "yes"})  # type: ignore[dict-item]
    listed = rubric_for("helpfulness", choices=["good", "ok", "bad"])
    assert dict(listed.choices) == {"good": 1.0, "ok": 0.5, "bad": 0.0}
    assert listed.passing == frozenset({"good"})
    with pytest.raises(InvalidInput, match="provider"):
        llm_judge(model="m", provider="cohere")


def test_every_builtin_rubric_renders() -> None:
    sample = Sample(input={"q": "é?"}, output=["ü"], expected_output={"a": 1}, context=["doc"])
    for name, rubric in RUBRICS.items():
        user = judge_messages(rubric, sample)[1]["content"]
        assert rubric.criteria in user, name
        assert "[RESPONSE]" in user
        assert '"ü"' in user
        assert all(choice in user for choice in rubric.choices)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"reason": "r", "choice": "b"}', ("B", "r")),
        ('prefix {"verdict": "A."} suffix', ("A", None)),
        ('{"x": {"y": 1}} then {"grade": "C", "explanation": "e"}', ("C", "e")),
        ('```\n{"Choice": "d", "Reason": "R"}\n```', ("D", "R")),
        ("Choice: A because it is right", ("A", None)),
    ],
)
def test_parse_verdict_is_robust(text: str, expected: tuple[str, str | None]) -> None:
    assert parse_verdict(text, ["A", "B", "C", "D"]) == expected


def test_parse_verdict_rejects_unknown() -> None:
    with pytest.raises(JudgeReplyError, match="not one of"):
        parse_verdict("verdict = excellent", ["A", "B"])
    with pytest.raises(JudgeReplyError, match="empty"):
        parse_verdict(None, ["A", "B"])


@pytest.mark.parametrize("sample_name", sorted(AWKWARD))
def test_awkward_samples_score_or_fail_clearly(fake: FakeProvider, sample_name: str) -> None:
    sample = AWKWARD[sample_name]
    judge = llm_judge(model="m", base_url=fake.openai_url, api_key="k")
    [out] = score(judge, sample)
    if sample.expected_output is None:
        assert out.value is None
        assert "needs expected_output" in (out.reason or "")
    else:
        assert out.value in (0.0, 1.0)
        body = json.dumps(fake.requests[-1].body, ensure_ascii=False)
        assert len(body) < 4 * len(str(sample.output)) + 6_000  # the prompt holds the sample once
