"""``/api/v1``: one router per noun.

A new noun is a module here with a ``router`` whose routes each take ``ProjectStore`` (or
``AdminStore``, or declare ``Public``), parse input, call one Store or core function, and return
a domain record; list the module below. No SQL and no business rule in a route.
"""

from fastapi import APIRouter

from assay.server.api.v1 import (
    audit,
    compare,
    dataset_runs,
    datasets,
    endpoints,
    evaluators,
    experiments,
    items,
    online,
    planning,
    projects,
    prompts,
    scores,
    trace_items,
    traces,
)

router = APIRouter()
# compare before experiments: /experiments/compare/ is not an experiment id.
for module in (
    datasets,
    trace_items,
    items,
    prompts,
    endpoints,
    traces,
    projects,
    evaluators,
    scores,
    online,
    dataset_runs,
    compare,
    planning,
    experiments,
    audit,
):
    router.include_router(module.router)

__all__ = ["router"]
