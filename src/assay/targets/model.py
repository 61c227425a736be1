"""A model ready to call: :class:`~assay.domain.ModelOptions` with defaults applied, its
provider endpoint resolved and its price known. Prompt targets and LLM judges both hold one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from assay.domain import ModelOptions
from assay.errors import InvalidInput, from_validation
from assay.targets.pricing import Price, PriceTable
from assay.targets.providers import PROVIDERS, ProviderEndpoint, resolve


def model_options(
    options: ModelOptions | None, given: Mapping[str, Any], prefix: str
) -> ModelOptions:
    """``options``, with the fields of ``given`` (keyword arguments, a spec's keys) over it;
    errors name ``prefix`` + the field."""
    try:
        extra = ModelOptions(**given)
    except ValidationError as exc:
        raise from_validation(exc, prefix=prefix) from None
    return extra.merged(options) if options is not None else extra


class Model:
    """``options`` over ``defaults``; the endpoint from ``base_url``/``api_key`` or the
    environment. ``params`` pass through to the API and win over temperature/max_tokens."""

    def __init__(
        self,
        options: ModelOptions,
        defaults: ModelOptions,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        params: Mapping[str, Any] | None = None,
        prices: PriceTable | None = None,
        prefix: str = "target.",
    ) -> None:
        merged = options.merged(defaults)
        provider = merged.provider or "openai"
        if provider not in PROVIDERS:
            raise InvalidInput(
                f"{prefix}provider must be 'openai' or 'anthropic', got {provider!r}",
                field=f"{prefix}provider",
            )
        if not merged.model:
            raise InvalidInput(f"{prefix}model: required", field=f"{prefix}model")
        self.options = merged
        self.provider = provider
        self.name: str = merged.model
        self.params: dict[str, Any] = {**merged.call_params(), **(params or {})}
        self.endpoint: ProviderEndpoint = resolve(provider, base_url=base_url, api_key=api_key)
        price = merged.price
        self._price = Price(price.input, price.output) if price is not None else None
        self._prices = prices

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.name}"

    @property
    def rate_key(self) -> str:
        return f"{self.provider}:{self.endpoint.base_url}"

    def cost(self, tokens_in: int | None, tokens_out: int | None) -> float | None:
        """The call's cost: the options' own price, else the price table's."""
        if self._price is not None:
            return self._price.cost(tokens_in, tokens_out)
        if self._prices is None:
            self._prices = PriceTable.load()
        return self._prices.cost(self.provider, self.name, tokens_in, tokens_out)
