"""Online evaluation rules and their scores over time (``client.online_rules``)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from assay.client._base import Call, dump, model, nothing, path
from assay.domain import Page
from assay.domain.online import OnlineRule, OnlineScores

if TYPE_CHECKING:
    from assay.client._async import AsyncAssay
    from assay.client._sync import Assay


def rule_create(body: Mapping[str, Any]) -> Call[OnlineRule]:
    return Call("POST", path("online-rules"), model(OnlineRule), json=dump(dict(body)))


def rule_get(ref: str) -> Call[OnlineRule]:
    return Call("GET", path("online-rules", ref), model(OnlineRule))


def rule_list(enabled: bool | None) -> Call[Page[OnlineRule]]:
    params = {"enabled": None if enabled is None else str(enabled).lower()}
    return Call("GET", path("online-rules"), model(Page[OnlineRule]), params=params)


def rule_update(ref: str, changes: Mapping[str, Any]) -> Call[OnlineRule]:
    return Call("PUT", path("online-rules", ref), model(OnlineRule), json=dump(dict(changes)))


def rule_delete(ref: str) -> Call[None]:
    return Call("DELETE", path("online-rules", ref), nothing)


def scores_over_time(rule: str | None, since: datetime | None, bucket_s: int) -> Call[OnlineScores]:
    params = {
        "rule_id": rule,
        "since": None if since is None else since.isoformat(),
        "bucket_s": bucket_s,
    }
    return Call("GET", path("online-scores"), model(OnlineScores), params=params)


def _body(name: str, evaluators: builtins.list[Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    refs = [{"evaluator": e} if isinstance(e, str) else e for e in evaluators]
    return {"name": name, "evaluators": refs, **fields}


class OnlineRules:
    """Rules that score production traces with saved evaluators as they arrive."""

    def __init__(self, client: Assay) -> None:
        self._c = client

    def create(self, name: str, evaluators: builtins.list[Any], **fields: Any) -> OnlineRule:
        """``evaluators``: names, or ``{"evaluator", "version", "mapping"}`` objects;
        ``fields``: ``filter``, ``sample_rate``, ``enabled``."""
        return self._c._run(rule_create(_body(name, evaluators, fields)))

    def get(self, rule: str) -> OnlineRule:
        return self._c._run(rule_get(rule))

    def list(self, *, enabled: bool | None = None) -> Page[OnlineRule]:
        return self._c._run(rule_list(enabled))

    def update(self, rule: str, **changes: Any) -> OnlineRule:
        return self._c._run(rule_update(rule, changes))

    def enable(self, rule: str) -> OnlineRule:
        return self.update(rule, enabled=True)

    def disable(self, rule: str) -> OnlineRule:
        return self.update(rule, enabled=False)

    def delete(self, rule: str) -> None:
        self._c._run(rule_delete(rule))

    def scores(
        self, *, rule: str | None = None, since: datetime | None = None, bucket_s: int = 3600
    ) -> OnlineScores:
        """Online scores per time bucket (default: hourly over the last day)."""
        return self._c._run(scores_over_time(rule, since, bucket_s))


class AsyncOnlineRules:
    """:class:`OnlineRules` for the async client."""

    def __init__(self, client: AsyncAssay) -> None:
        self._c = client

    async def create(self, name: str, evaluators: builtins.list[Any], **fields: Any) -> OnlineRule:
        return await self._c._run(rule_create(_body(name, evaluators, fields)))

    async def get(self, rule: str) -> OnlineRule:
        return await self._c._run(rule_get(rule))

    async def list(self, *, enabled: bool | None = None) -> Page[OnlineRule]:
        return await self._c._run(rule_list(enabled))

    async def update(self, rule: str, **changes: Any) -> OnlineRule:
        return await self._c._run(rule_update(rule, changes))

    async def enable(self, rule: str) -> OnlineRule:
        return await self.update(rule, enabled=True)

    async def disable(self, rule: str) -> OnlineRule:
        return await self.update(rule, enabled=False)

    async def delete(self, rule: str) -> None:
        await self._c._run(rule_delete(rule))

    async def scores(
        self, *, rule: str | None = None, since: datetime | None = None, bucket_s: int = 3600
    ) -> OnlineScores:
        return await self._c._run(scores_over_time(rule, since, bucket_s))
