"""One model options record for prompt targets and LLM judges; one run settings record."""

from __future__ import annotations

import pytest

from assay.domain import ModelOptions, RunSettings
from assay.engine import RunOptions, parse_run_config
from assay.engine.provider_judge import ProviderJudge, llm_judge
from assay.errors import InvalidInput
from assay.targets import PromptTarget, create_target

URL = "http://127.0.0.1:9/v1"


def test_prompt_targets_and_judges_take_the_same_record() -> None:
    options = ModelOptions(
        provider="openai",
        model="gpt-4o-mini",
        temperature=0.4,
        max_tokens=64,
        timeout=9,
        rpm=60,
        tpm=6000,
        price={"input": 1, "output": 2},  # type: ignore[arg-type]
    )
    target = PromptTarget(options, prompt="{{ q }}", base_url=URL)
    judge = llm_judge(options=options, base_url=URL).model
    assert isinstance(judge, ProviderJudge)
    for call in (target, judge):
        assert (call.provider, call.model, call.timeout) == ("openai", "gpt-4o-mini", 9)
        assert (call.rpm, call.tpm) == (60, 6000)
        assert call.params == {"temperature": 0.4, "max_tokens": 64}
        assert call.model_call.cost(1_000_000, 1_000_000) == 3.0
    spec = create_target(
        {
            "type": "prompt",
            "prompt": "{{ q }}",
            "base_url": URL,
            **options.model_dump(exclude_none=True),
        }
    )
    assert isinstance(spec, PromptTarget)
    assert (spec.timeout, spec.params) == (9, {"temperature": 0.4, "max_tokens": 64})


def test_each_takes_its_own_defaults_and_the_older_shapes() -> None:
    target = PromptTarget(model="m", prompt="x", base_url=URL)
    assert (target.timeout, target.params) == (120, {})
    judge = ProviderJudge(model="m", base_url=URL, backoff_base=0.5, backoff_max=4)
    assert (judge.timeout, judge.params) == (60, {"temperature": 0.0, "max_tokens": 512})
    assert (judge.policy.max_retries, judge.policy.base, judge.policy.cap) == (5, 0.5, 4)
    plain = ProviderJudge(model="o1", base_url=URL, temperature=None)  # a model without one
    assert "temperature" not in plain.params
    assert ModelOptions(backoff=1).backoff == ModelOptions(backoff={"base": 1}).backoff  # type: ignore[arg-type]


def test_errors_name_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        llm_judge(model="m", base_url=URL, timeout=0)
    assert caught.value.field == "params.timeout"
    with pytest.raises(InvalidInput) as caught:
        PromptTarget(model="m", prompt="x", base_url=URL, max_tokens=0)
    assert caught.value.field == "target.max_tokens"
    with pytest.raises(InvalidInput, match=r"target\.provider must be 'openai' or 'anthropic'"):
        PromptTarget(model="m", provider="cohere", prompt="x", base_url=URL)


def test_run_settings_become_the_engines_options() -> None:
    settings = RunSettings(concurrency=3, backoff=0.5, timeout=4, rpm=10, max_cost=2)  # type: ignore[arg-type]
    options = RunOptions.from_settings(settings, retry_errors=True)
    assert (options.concurrency, options.backoff_base, options.backoff_max) == (3, 0.5, 60)
    assert (options.timeout, options.rpm, options.max_cost, options.retry_errors) == (
        4,
        10,
        2,
        True,
    )
    assert settings.changed() == {
        "concurrency": 3,
        "backoff": {"base": 0.5},
        "timeout": 4.0,
        "rpm": 10,
        "max_cost": 2.0,
    }
    config = parse_run_config({"dataset": "d", "target": {"type": "http", "url": URL}, "tpm": 5})
    assert config.with_settings(timeout=3, rpm=None).options().timeout == 3
    assert config.options().tpm == 5
    with pytest.raises(InvalidInput) as caught:
        config.with_settings(max_retries=-1)
    assert caught.value.field == "max_retries"
