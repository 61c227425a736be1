"""Registry and plugins, the @scorer decorator, composites and building from specs."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from assay import plugins
from assay.domain import Evaluator, ScoreCreate, ScoreDataType
from assay.errors import InvalidInput
from assay.scorers import contains, exact_match, similarity
from assay.scoring import (
    Composite,
    Sample,
    ScorerSpec,
    Threshold,
    ThresholdScorer,
    all_of,
    any_of,
    available,
    build,
    build_all,
    check,
    create,
    describe,
    registry,
    run_scorer,
    scorer,
    weighted_mean,
)
from assay.scoring.registry import load_plugins

SAMPLE = Sample(input="q", output="Paris", expected_output="Paris")


def score_all(s: Any, sample: Sample = SAMPLE) -> list[ScoreCreate]:
    return asyncio.run(run_scorer(s, sample))


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test are undone after it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_builtins_registered", registry._builtins_registered)
    monkeypatch.setattr(registry, "_plugins_generation", registry._plugins_generation)
    monkeypatch.setattr(plugins, "_loaded", plugins._loaded)


# ---------------------------------------------------------------- registry and plugins
def test_builtins_are_registered() -> None:
    names = set(available())
    expected = {
        "exact_match", "contains", "icontains", "contains_any", "contains_all", "regex",
        "starts_with", "ends_with", "is_json", "json_schema", "json_match", "levenshtein",
        "similarity", "numeric_close", "token_f1", "bleu", "rouge_l", "latency", "cost",
        "tokens", "length", "tool_used", "tool_arguments", "tool_sequence",
        "semantic_similarity", "composite",
    }  # fmt: skip
    assert expected <= names
    assert describe("exact_match").startswith("True when the output equals")


def test_create_checks_names_and_parameters() -> None:
    assert create("contains", value="x", ignore_case=True).name == "contains"
    with pytest.raises(InvalidInput, match="unknown scorer 'nope'; available: ") as info:
        create("nope")
    assert info.value.field == "kind"
    with pytest.raises(InvalidInput, match="unexpected keyword argument 'bogus'") as info:
        create("exact_match", bogus=1)
    assert info.value.field == "params"


def _write_plugin(root: Path, dist: str, entry_points: str, modules: dict[str, str]) -> None:
    info = root / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for name, source in modules.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))


def test_plugins_load_from_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_registry: None
) -> None:
    _write_plugin(
        tmp_path,
        "assay_demo_plugin",
        """
        [assay.plugins]
        demo = assay_demo_plugin_mod
        shouty = assay_demo_plugin_mod:make_shouty
        broken = assay_demo_missing_mod
        """,
        {
            "assay_demo_plugin_mod": """
            from assay.scoring import scorer

            @scorer(register=True)
            def polite(output):
                return "please" in str(output).lower()

            class Shouty:
                def __init__(self, *, name="shouty"):
                    self.name = name

                def score(self, sample):
                    return {"value": str(sample.output).isupper()}

            def make_shouty(*, name="shouty"):
                return Shouty(name=name)
            """
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    errors = load_plugins(reload=True)
    assert "assay_demo_missing_mod" in errors["broken"]
    assert {"polite", "shouty"} <= set(available())
    polite = create("polite")
    (score,) = score_all(polite, Sample(input=None, output="Please wait"))
    assert (score.name, score.value, score.passed) == ("polite", True, True)
    (score,) = score_all(build({"kind": "shouty"}), Sample(input=None, output="HEY"))
    assert score.value is True
    with pytest.raises(InvalidInput, match=r"plugins that failed to load: broken"):
        create("absent")


def test_plugin_factory_must_return_a_scorer(clean_registry: None) -> None:
    registry.register("not_a_scorer", lambda: object())
    with pytest.raises(InvalidInput, match="not a scorer"):
        create("not_a_scorer")


# ---------------------------------------------------------------- @scorer
def test_scorer_decorator_sync_async_and_several_scores(clean_registry: None) -> None:
    @scorer
    def length_ok(output: str, expected_output: str) -> bool:
        return len(output) == len(expected_output)

    @scorer(name="pair")
    async def two(sample: Sample) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        return [{"name": "first", "value": 1.0}, {"name": "second", "value": "ok"}]

    (one,) = score_all(length_ok())
    assert (one.name, one.value, one.passed) == ("length_ok", True, True)
    assert [s.name for s in score_all(two())] == ["first", "second"]
    assert score_all(two())[1].data_type == ScoreDataType.categorical
    assert length_ok(name="renamed").name == "renamed"
    with pytest.raises(InvalidInput, match="unknown field"):
        scorer(lambda answer: 1)


def test_a_scorer_that_raises_becomes_an_error_score() -> None:
    @scorer
    def boom(output: Any) -> float:
        raise RuntimeError("kaput")

    (s,) = score_all(boom())
    here = f"{__name__}.test_a_scorer_that_raises_becomes_an_error_score.<locals>.boom"
    assert (s.value, s.passed) == (None, None)
    assert s.reason == f"scorer error: function {here} raised RuntimeError: kaput"


class _Strict:
    """A user's scorer class, not a function."""

    name = "strict"

    def score(self, sample: Any) -> Any:
        if sample.output is None:
            raise ValueError("no output")
        return {"value": "high", "passed": "maybe"}


def test_errors_of_user_code_name_it_and_say_why() -> None:
    raised, bad = (score_all(_Strict(), Sample(input="q", output=o))[0] for o in (None, "x"))
    assert raised.reason == (
        f"scorer error: scorer class {__name__}._Strict raised ValueError: no output"
    )
    assert (bad.reason or "").startswith(
        f"scorer error: scorer class {__name__}._Strict returned an invalid score: passed:"
    )

    @scorer
    def wrong_type(output: Any) -> object:
        return object()

    (s,) = score_all(ThresholdScorer(wrong_type(), Threshold(gte=0.5)))  # wrapped, still named
    assert s.reason == (
        f"scorer error: function {__name__}.test_errors_of_user_code_name_it_and_say_why"
        ".<locals>.wrong_type returned object; expected a number, bool, str, dict, ScoreCreate "
        "or a list of them"
    )
    with pytest.raises(InvalidInput, match=r"scorer 'odd' \(function .*<locals>\.odd\) asks"):

        @scorer
        def odd(answer: Any) -> float:
            return 1.0


# ---------------------------------------------------------------- composites
def test_weighted_mean() -> None:
    comp = weighted_mean(
        exact_match(),
        similarity(name="sim"),
        weights=[3, 1],
    )
    sample = Sample(input=None, output="abcd", expected_output="abce")
    (s,) = score_all(comp, sample)
    assert s.value == pytest.approx((3 * 0 + 1 * 0.75) / 4)
    assert s.metadata == {"parts": {"exact_match": 0.0, "sim": 0.75}}
    assert s.passed is None


def test_all_and_any_need_verdicts() -> None:
    sample = Sample(input=None, output="Paris is big", expected_output="Paris")
    (s,) = score_all(all_of(contains("Paris"), exact_match()), sample)
    assert (s.value, s.passed, s.reason) == (False, False, "failed: exact_match")
    (s,) = score_all(any_of(contains("Paris"), exact_match()), sample)
    assert s.passed is True
    (s,) = score_all(all_of(contains("Paris"), similarity()), sample)
    assert s.value is None
    assert "without pass/fail" in (s.reason or "")
    with_threshold = {"kind": "similarity", "threshold": {"gte": 0.5}}
    (s,) = score_all(all_of(contains("Paris"), with_threshold), sample)
    assert s.passed is True


def test_composite_with_a_failing_part_and_parts_included() -> None:
    comp = Composite([exact_match(), contains("x", name="has_x")], include_parts=True)
    scores = score_all(comp, Sample(input=None, output="x"))  # no expected output
    assert [s.name for s in scores] == ["composite", "exact_match", "has_x"]
    assert scores[0].value is None
    assert "exact_match: scorer error: no expected output" in (scores[0].reason or "")


def test_threshold_on_a_composite_with_parts_applies_to_the_composite() -> None:
    config = {
        "kind": "composite",
        "params": {"scorers": ["token_f1", "exact_match"], "include_parts": True},
        "threshold": {"gte": 0.4},
    }
    sample = Sample(input=None, output="a b", expected_output="a b c")
    scores = {s.name: s for s in score_all(build(config), sample)}
    assert scores["composite"].passed is True  # (0.8 + 0) / 2
    assert scores["token_f1"].passed is None
    assert scores["exact_match"].passed is False  # its own verdict


def test_threshold_on_several_differently_named_scores_applies_to_all() -> None:
    @scorer
    def two(output: Any) -> list[dict[str, Any]]:
        return [{"name": "a", "value": 0.9}, {"name": "b", "value": 0.1}]

    a, b = score_all(ThresholdScorer(two(), Threshold(gte=0.5)))
    assert (a.passed, b.passed) == (True, False)


def test_composite_parameter_errors() -> None:
    with pytest.raises(InvalidInput, match="at least one"):
        Composite([])
    with pytest.raises(InvalidInput, match="1 weight"):
        Composite([exact_match(), contains("x")], weights=[1])
    with pytest.raises(InvalidInput, match="add up to 0"):
        Composite([exact_match()], weights=[0])
    with pytest.raises(InvalidInput, match="distinct names"):
        Composite([exact_match(), exact_match()])
    with pytest.raises(InvalidInput, match="mode"):
        Composite([exact_match()], mode="most")  # type: ignore[arg-type]


# ---------------------------------------------------------------- build
def _evaluator(**kw: Any) -> Evaluator:
    from datetime import UTC, datetime

    values: dict[str, Any] = {
        "id": "ev-1",
        "project_id": "p",
        "name": "answer_ok",
        "version": 3,
        "kind": "exact_match",
        "params": {"ignore_case": True},
        "mapping": {"output": "output.answer"},
        "threshold": None,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        **kw,
    }
    return Evaluator(**values)


def test_build_from_saved_evaluator() -> None:
    sample = Sample(input=None, output={"answer": "PARIS"}, expected_output="paris")
    (s,) = score_all(build(_evaluator()), sample)
    assert (s.name, s.value, s.evaluator_id, s.evaluator_version) == ("answer_ok", True, "ev-1", 3)


def test_build_from_names_specs_and_scorers() -> None:
    assert build("exact_match").name == "exact_match"
    plain = exact_match()
    assert build(plain) is plain
    spec = ScorerSpec(kind="similarity", name="close", threshold={"gte": 0.7})
    (s,) = score_all(build(spec), Sample(input=None, output="abcd", expected_output="abce"))
    assert (s.name, s.passed) == ("close", True)


def test_build_composite_from_config() -> None:
    config = {
        "kind": "composite",
        "name": "overall",
        "params": {
            "mode": "weighted_mean",
            "weights": [1, 1],
            "scorers": [
                {"kind": "exact_match", "mapping": {"output": "output.answer"}},
                {"kind": "contains", "params": {"value": "Paris"}},
            ],
        },
        "threshold": {"gte": 0.5},
    }
    sample = Sample(input=None, output={"answer": "Lyon", "note": "Paris"}, expected_output="Paris")
    (s,) = score_all(build(config), sample)
    assert (s.name, s.value, s.passed) == ("overall", 0.5, True)


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({"kind": "nope"}, "kind", "unknown scorer 'nope'"),
        ({"kind": "regex", "params": {"pattern": "("}}, "params.pattern", "not a valid regular"),
        ({"kind": "exact_match", "mapping": {"output": "outptu"}}, "mapping.output", "start"),
        ({"kind": "exact_match", "threshold": {"gte": "x"}}, "threshold.gte", "number"),
        ({"kind": "exact_match", "extra": 1}, "extra", "Extra inputs"),
        (
            {"kind": "composite", "params": {"scorers": [{"kind": "regex"}, {"kind": "bad"}]}},
            "params.scorers[1].kind",
            "unknown scorer 'bad'",
        ),
    ],
)
def test_check_names_the_bad_field(config: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")) as info:
        check(config)
    assert info.value.field == field


def test_build_rejects_other_types_and_duplicate_names() -> None:
    with pytest.raises(InvalidInput, match="not int"):
        build(42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="two scorers are named 'exact_match'"):
        build_all(["exact_match", {"kind": "exact_match"}])
    with pytest.raises(InvalidInput, match="scorer 1: unknown scorer") as info:
        build_all(["exact_match", "bogus"])
    assert info.value.field == "kind"
    assert [s.name for s in build_all(["exact_match", {"kind": "exact_match", "name": "b"}])] == [
        "exact_match",
        "b",
    ]


def test_run_scorer_records_the_scorer_latency() -> None:
    @scorer
    def slowish(output: Any) -> float:
        return 1.0

    @scorer
    def own_latency(output: Any) -> dict[str, Any]:
        return {"value": 1.0, "latency_ms": 123.0}

    @scorer
    def silent_failure(output: Any) -> float:
        raise KeyError

    (s,) = score_all(slowish())
    assert s.latency_ms is not None
    assert s.latency_ms >= 0
    assert score_all(own_latency())[0].latency_ms == 123.0
    failed = score_all(silent_failure())[0]
    assert (failed.reason or "").endswith(".<locals>.silent_failure raised KeyError")
    assert failed.latency_ms is not None


def test_dict_results_are_checked_and_bools_pass() -> None:
    @scorer
    def as_dict(output: Any) -> dict[str, Any]:
        return {"value": output == "Paris", "reason": "compared"}

    @scorer
    def malformed(output: Any) -> dict[str, Any]:
        return {"value": [1, 2]}

    (s,) = score_all(as_dict())
    assert (s.value, s.passed, s.reason) == (True, True, "compared")
    (bad,) = score_all(malformed())
    assert bad.value is None
    assert (bad.reason or "").startswith("scorer error: function ")
    assert ".<locals>.malformed returned an invalid score: value: " in (bad.reason or "")
