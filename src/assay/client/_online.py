"""Online evaluation rules and their scores over time (``client.online_rules``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from assay.client._base import Call, dump, model, nothing, path
from assay.client._methods import M, Method, Namespace
from assay.domain import Page
from assay.domain.online import OnlineRule, OnlineScores


def rule_create(name: str, evaluators: list[Any], **fields: Any) -> Call[OnlineRule]:
    """``evaluators``: names, or ``{"evaluator", "version", "mapping"}`` objects;
    ``fields``: ``filter``, ``sample_rate``, ``enabled``."""
    refs = [{"evaluator": e} if isinstance(e, str) else e for e in evaluators]
    body = {"name": name, "evaluators": refs, **fields}
    return Call("POST", path("online-rules"), model(OnlineRule), json=dump(body))


def rule_get(rule: str) -> Call[OnlineRule]:
    return Call("GET", path("online-rules", rule), model(OnlineRule))


def rule_list(*, enabled: bool | None = None) -> Call[Page[OnlineRule]]:
    params = {"enabled": None if enabled is None else str(enabled).lower()}
    return Call("GET", path("online-rules"), model(Page[OnlineRule]), params=params)


def rule_update(rule: str, **changes: Any) -> Call[OnlineRule]:
    return Call("PUT", path("online-rules", rule), model(OnlineRule), json=dump(changes))


def rule_enable(rule: str) -> Call[OnlineRule]:
    return rule_update(rule, enabled=True)


def rule_disable(rule: str) -> Call[OnlineRule]:
    return rule_update(rule, enabled=False)


def rule_delete(rule: str) -> Call[None]:
    return Call("DELETE", path("online-rules", rule), nothing)


def scores_over_time(
    *, rule: str | None = None, since: datetime | None = None, bucket_s: int = 3600
) -> Call[OnlineScores]:
    """Online scores per time bucket (default: hourly over the last day)."""
    params = {
        "rule_id": rule,
        "since": None if since is None else since.isoformat(),
        "bucket_s": bucket_s,
    }
    return Call("GET", path("online-scores"), model(OnlineScores), params=params)


class OnlineRules(Namespace[M]):
    """Rules that score production traces with saved evaluators as they arrive."""

    create = Method(rule_create)
    get = Method(rule_get)
    list = Method(rule_list)
    update = Method(rule_update)
    enable = Method(rule_enable)
    disable = Method(rule_disable)
    delete = Method(rule_delete)
    scores = Method(scores_over_time)
