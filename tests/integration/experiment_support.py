"""Helpers for the experiment API tests: a worker run to idle and a seed-style body."""

from __future__ import annotations

from typing import Any

from assay.config import Settings
from assay.service.worker import Worker
from assay.store import Store
from tests.fakes.provider import FakeProvider


def run_worker(store: Store, settings: Settings) -> Worker:
    worker = Worker(settings, store.db, project_ids=[store.project_id])
    worker.run_forever(until_idle=True)
    return worker


def prompt_body(dataset_id: str, fake: FakeProvider, **extra: Any) -> dict[str, Any]:
    return {
        "name": "gpt-4o on Support QA",
        "dataset_id": dataset_id,
        "config": {
            "prompt_name": "support-system-prompt",
            "prompt_label": "production",
            "model": "gpt-4o",
            "temperature": 0.3,
            "base_url": fake.openai_url,
        },
        "scorers": [{"name": "contains", "params": {"value": "echo"}}],
        "metadata": {"hypothesis": "echo answers"},
        **extra,
    }
