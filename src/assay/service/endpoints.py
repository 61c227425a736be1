"""Trying a saved endpoint with one sample input before a run uses it.

:func:`try_endpoint` builds the endpoint's target exactly as a run does (its URL screened by
the server's outbound policy, every connection guarded), sends one sample through it and
reports what came back: the HTTP status and body, and the output its ``output_path`` extracts,
or the reason nothing did (a refused address, a timeout, a non-JSON answer…).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from assay.config import Settings
from assay.domain import WorkItem
from assay.errors import AssayError
from assay.outbound import enforced, server_policy
from assay.service.targets import build_target
from assay.store import Store
from assay.targets.base import TargetError
from assay.targets.http import HttpTarget

BODY_SHOWN = 20_000  # characters of the response body kept for display


@dataclass(frozen=True, slots=True)
class EndpointTrial:
    """What one sample sent through an endpoint gave."""

    ok: bool
    request: dict[str, Any] | None = None
    status: int | None = None
    body: str | None = None
    output: Any = None
    error: str | None = None


async def try_endpoint(
    store: Store, settings: Settings, ref: str, sample: Any, expected: Any = None
) -> EndpointTrial:
    """Send ``sample`` (an item's input) through saved endpoint ``ref`` under the server's
    outbound policy; never raises for what the endpoint did, only for an unknown endpoint."""
    saved = store.endpoints.get(ref)
    policy = server_policy(settings)
    try:
        target = build_target(store, settings, {"type": "endpoint", "endpoint": saved.id})
    except AssayError as exc:  # the URL is refused by the outbound policy, or is malformed
        return EndpointTrial(ok=False, error=exc.message)
    if not isinstance(target, HttpTarget):  # pragma: no cover - endpoints build HTTP targets
        return EndpointTrial(ok=False, error="not an HTTP endpoint")
    seen: list[httpx.Response] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        seen.append(response)

    target.client.event_hooks["response"].append(keep)
    item = WorkItem(
        result_id="trial", item_id=None, repetition=0, input=sample, expected_output=expected
    )
    try:
        with enforced(policy):
            done = await target.call(item)
    except TargetError as exc:
        return _trial(seen, ok=False, error=str(exc))
    finally:
        await target.aclose()
    return _trial(seen, ok=True, request=done.request, output=done.output)


def _trial(seen: list[httpx.Response], **fields: Any) -> EndpointTrial:
    if not seen:
        return EndpointTrial(**fields)
    response = seen[-1]
    return EndpointTrial(status=response.status_code, body=response.text[:BODY_SHOWN], **fields)
