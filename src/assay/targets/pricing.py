"""Token prices (USD per 1M tokens) → cost of a call.

A price table ships with the package (``prices.json``); a file with the same shape named by
``ASSAY_PRICE_TABLE`` (Settings.price_table) is merged over it, and a target's own ``price``
wins over both. Model names match exactly, else by the longest known prefix, so dated
snapshots (``gpt-4o-mini-2024-07-18``) find their family.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson

from assay.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    output: float

    def cost(self, tokens_in: int | None, tokens_out: int | None) -> float:
        return ((tokens_in or 0) * self.input + (tokens_out or 0) * self.output) / 1_000_000


def _parse(data: Any, source: str) -> dict[str, dict[str, Price]]:
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: expected an object of providers", field="price_table")
    table: dict[str, dict[str, Price]] = {}
    for provider, models in data.items():
        if provider.startswith("_"):
            continue
        if not isinstance(models, dict):
            raise InvalidInput(f"{source}: {provider}: expected an object", field="price_table")
        for model, price in models.items():
            try:
                table.setdefault(provider, {})[model] = Price(
                    float(price["input"]), float(price["output"])
                )
            except (KeyError, TypeError, ValueError):
                raise InvalidInput(
                    f"{source}: {provider}.{model}: expected {{input, output}} numbers",
                    field="price_table",
                ) from None
    return table


class PriceTable:
    def __init__(self, table: dict[str, dict[str, Price]]) -> None:
        self.table = table

    @classmethod
    def load(cls, override: Path | None = None) -> PriceTable:
        shipped = files("assay.targets").joinpath("prices.json").read_bytes()
        table = _parse(orjson.loads(shipped), "prices.json")
        if override is not None:
            try:
                extra = orjson.loads(Path(override).expanduser().read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise InvalidInput(
                    f"price table {str(override)!r}: {exc}", field="price_table"
                ) from None
            for provider, models in _parse(extra, str(override)).items():
                table.setdefault(provider, {}).update(models)
        return cls(table)

    def price(self, provider: str, model: str) -> Price | None:
        models = self.table.get(provider, {})
        if model in models:
            return models[model]
        best = max((m for m in models if model.startswith(m)), key=len, default=None)
        return models[best] if best else None

    def cost(
        self, provider: str, model: str, tokens_in: int | None, tokens_out: int | None
    ) -> float | None:
        price = self.price(provider, model)
        return None if price is None else price.cost(tokens_in, tokens_out)
