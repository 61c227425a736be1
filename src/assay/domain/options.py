"""The options every surface sets the same way: how a run runs, and how a model is called.

:class:`RunSettings` is what a run config (YAML), ``assay run``'s flags, ``evaluate()``'s
keyword arguments and the REST body of ``POST /experiments/`` accept: concurrency, trials,
retries, timeout, rate limits, budget and cache. The engine turns it into its ``RunOptions``.

:class:`ModelOptions` is one model call's settings, shared by prompt targets and LLM judges:
provider, model, temperature, max tokens, timeout, retries, backoff, rate limits and price.
Every field is optional here; each consumer fills its own defaults.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class BackoffOptions(BaseModel):
    """The wait before a retry: ``base`` seconds, doubling up to ``max`` (full jitter)."""

    model_config = ConfigDict(extra="forbid")

    base: float = Field(default=2.0, ge=0)
    max: float = Field(default=60.0, ge=0)


def _backoff(value: Any) -> Any:
    """``backoff: 0.5`` is a base alone."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"base": value}
    return value


class SequentialSettings(BaseModel):
    """Stop a run as soon as its comparison with ``baseline`` is settled.

    Items run in a random order (``seed``, drawn when not given and recorded with the run);
    after each result the per-item differences with the baseline's results for the same items
    are checked against an always-valid confidence sequence, and the run stops once it shows
    the run better, worse, or (with ``margin``) within the margin of the baseline.
    """

    model_config = ConfigDict(extra="forbid")

    baseline: str = Field(min_length=1, max_length=300, description="Run id or name.")
    metric: str = Field(
        default="pass_rate",
        min_length=1,
        max_length=200,
        description="pass_rate, or a scorer whose values lie in [0, 1].",
    )
    margin: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Non-inferiority margin (a share: 0.02 = two points); 0: only better or "
        "worse stop the run.",
    )
    alpha: float = Field(default=0.05, gt=0, le=0.5, description="Error rate of the verdict.")
    seed: int | None = Field(
        default=None, ge=0, le=2**53, description="Seed of the item order; default: random."
    )


class RunSettings(BaseModel):
    """How a run runs. Every surface validates these fields with this record."""

    model_config = ConfigDict(extra="forbid")

    concurrency: int = Field(default=10, ge=1, le=10_000, description="Calls in flight.")
    trials: int = Field(default=1, ge=1, le=1_000, description="Runs of each item.")
    max_retries: int = Field(default=5, ge=0, le=100, description="Retries per failed call.")
    backoff: BackoffOptions = Field(
        default_factory=BackoffOptions,
        description="Seconds before a retry (a base, or {base, max}).",
    )
    timeout: float | None = Field(
        default=None, gt=0, description="Per attempt (s); default: the target's own."
    )
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute.")
    tpm: int | None = Field(default=None, ge=1, description="Tokens per minute.")
    adaptive_concurrency: bool = Field(
        default=True, description="Lower concurrency while the target rate-limits."
    )
    max_cost: float | None = Field(
        default=None, gt=0, description="Budget (USD): the run stops when it is spent."
    )
    cache: bool = Field(default=False, description="Reuse cached outputs of identical calls.")
    sequential: SequentialSettings | None = Field(
        default=None,
        description="Stop early once the comparison with a baseline run is settled "
        "(see docs/statistics.md).",
    )

    _coerce_backoff = field_validator("backoff", mode="before")(_backoff)

    def changed(self) -> dict[str, Any]:
        """The run settings set away from their defaults (what an experiment stores); a
        record extending this one leaves its own fields out."""
        return self.model_dump(
            mode="json", include=set(RunSettings.model_fields), exclude_defaults=True
        )


#: The fields of :class:`RunSettings`, for surfaces that take them among other arguments.
RUN_SETTINGS = tuple(RunSettings.model_fields)


class ModelPrice(BaseModel):
    """USD per 1M tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class ModelOptions(BaseModel):
    """One model call's settings, for prompt targets and LLM judges alike.

    The older flat names ``backoff_base`` / ``backoff_max`` are still read.
    """

    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(default=None, description="openai or anthropic.")
    model: str | None = Field(default=None, min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0, description="Per attempt (s).")
    max_retries: int | None = Field(default=None, ge=0, le=100)
    backoff: BackoffOptions | None = None
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    price: ModelPrice | None = Field(default=None, description="USD per 1M tokens.")

    _coerce_backoff = field_validator("backoff", mode="before")(_backoff)

    @model_validator(mode="before")
    @classmethod
    def _flat_backoff(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("backoff_base" in data or "backoff_max" in data):
            data = dict(data)
            backoff = _backoff(data.get("backoff")) or {}
            if isinstance(backoff, dict):
                for old, new in (("backoff_base", "base"), ("backoff_max", "max")):
                    if old in data:
                        backoff = {**backoff, new: data.pop(old)}
                data["backoff"] = backoff
        return data

    def merged(self, defaults: ModelOptions) -> ModelOptions:
        """These options, with ``defaults`` where a field was not given (an explicit None
        stays None: ``temperature: null`` sends no temperature)."""
        return defaults.model_copy(update={k: getattr(self, k) for k in self.model_fields_set})

    def call_params(self) -> dict[str, Any]:
        """The request parameters these options set (temperature, max_tokens)."""
        params: dict[str, Any] = {}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        return params


MODEL_OPTIONS = tuple(ModelOptions.model_fields)
