"""``/api/v1/online-rules/``: rules that score production traces with saved evaluators as
they arrive; ``/api/v1/online-scores/``: those scores per time bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from assay.domain import Page
from assay.domain.online import OnlineRule, OnlineRuleCreate, OnlineRuleUpdate, OnlineScores
from assay.server.auth import ProjectStore
from assay.service.online import create_rule, update_rule

router = APIRouter(tags=["online"])


@router.get("/online-rules/")
def list_rules(store: ProjectStore, enabled: bool | None = None) -> Page[OnlineRule]:
    """The project's online rules, by name."""
    return Page[OnlineRule](items=store.online_rules.list(enabled=enabled), next_cursor=None)


@router.post("/online-rules/", status_code=201)
def create_online_rule(store: ProjectStore, body: OnlineRuleCreate) -> OnlineRule:
    """Save a rule; its filter, rate, evaluators and mappings are checked first (422 naming
    the field at fault); a name in use is a conflict (409)."""
    return create_rule(store, body)


@router.get("/online-rules/{rule_id}/")
def get_online_rule(store: ProjectStore, rule_id: str) -> OnlineRule:
    """A rule by id or name."""
    return store.online_rules.get(rule_id)


@router.put("/online-rules/{rule_id}/")
def update_online_rule(store: ProjectStore, rule_id: str, body: OnlineRuleUpdate) -> OnlineRule:
    """Change the fields sent (``{"enabled": false}`` pauses a rule); the rule as it would
    become is checked whole."""
    return update_rule(store, rule_id, body)


@router.delete("/online-rules/{rule_id}/", status_code=204)
def delete_online_rule(store: ProjectStore, rule_id: str) -> Response:
    """Delete a rule; the scores it wrote stay on their traces."""
    store.online_rules.delete(rule_id)
    return Response(status_code=204)


@router.get("/online-scores/")
def online_scores(
    store: ProjectStore,
    rule_id: str | None = None,
    since: datetime | None = None,
    bucket_s: Annotated[int, Query(ge=60, le=30 * 86400)] = 3600,
) -> OnlineScores:
    """Count, mean and pass rate of each online score name per bucket (default: hourly over
    the last 24 hours), and what the scorers (LLM judges) cost per bucket."""
    start = since or datetime.now(UTC) - timedelta(days=1)
    return store.online_rules.scores_over_time(since=start, bucket_s=bucket_s, rule_id=rule_id)
