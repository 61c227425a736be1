"""``/api/v1``: one router per noun.

A new noun is a module here with a ``router`` whose routes each take ``ProjectStore`` (or declare
``Public``), parse input, call one Store or core function, and return a domain record; list the
module below. No SQL and no business rule in a route.
"""

from fastapi import APIRouter

from assay.server.api.v1 import datasets, endpoints, items, projects, prompts, traces

router = APIRouter()
for module in (datasets, items, prompts, endpoints, traces, projects):
    router.include_router(module.router)

__all__ = ["router"]
