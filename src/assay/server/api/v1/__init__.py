"""``/api/v1``: one router per noun."""

from fastapi import APIRouter

from assay.server.api.v1 import datasets, endpoints, items, projects, prompts, traces

router = APIRouter()
for module in (datasets, items, prompts, endpoints, traces, projects):
    router.include_router(module.router)

__all__ = ["router"]
