"""A project with something on every dashboard page, and the list of those pages.

The accessibility test and ``scripts/screenshots.py`` both seed it into a fresh ``ASSAY_HOME``
and visit :func:`pages`. It builds on the ``assay demo`` data: the support-QA dataset in two
versions, the two demo bots, plus a run with trials, a failed run, prompts whose versions ran
(against a local OpenAI-compatible fake), traces in a session, and an online rule.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import assay
from assay.cli.demo_bot import bot_v1, bot_v2
from assay.config import Settings
from assay.domain import (
    DatasetCreate,
    EvaluatorCreate,
    ItemCreate,
    ItemUpdate,
    ObservationCreate,
    PromptCreate,
    TraceCreate,
)
from assay.domain.online import OnlineEvaluatorRef, OnlineRuleCreate, TraceFilter
from assay.io import import_file
from assay.scorers import exact_match, token_f1
from assay.store import Store, open_store
from tests.fakes.provider import FakeProvider

DATASET = "support-qa"
PROMPT = "support-reply"
SESSION = "chat-7f3a"


@dataclass(frozen=True)
class Showcase:
    """Ids of what was seeded, for the pages' URLs."""

    v1_id: str
    v2_id: str
    trials_id: str
    failed_id: str
    item_id: str
    trace_id: str


_calls: dict[str, int] = {}


async def support_bot_v2(x: dict[str, Any]) -> Any:
    """The v2 bot, but the second try of each billing question answers something else."""
    question = str(x.get("question", ""))
    _calls[question] = _calls.get(question, 0) + 1
    if any(w in question.lower() for w in ("invoice", "refund", "pay")) and _calls[question] == 2:
        return "Please contact support."
    return await bot_v2(x)


support_bot_v2.__module__ = "support_bot"  # the run shows "support_bot:support_bot_v2"


def _broken(x: dict[str, Any]) -> str:
    raise RuntimeError("support-bot v3: the knowledge base index is missing")


def seed(home: Path) -> Showcase:
    """Seed the project of ``ASSAY_HOME=home`` (a new, empty home)."""
    store = open_store(Settings(home=home))
    try:
        return _seed(store)
    finally:
        store.close()


def _seed(store: Store) -> Showcase:
    sample = files("assay.data").joinpath("sample_support_qa.jsonl")
    with as_file(sample) as path:
        import_file(store, path, dataset=DATASET, create=True)
    first = store.datasets.list_items(DATASET, limit=1).items[0]
    store.datasets.update_item(
        DATASET,
        first.id,
        ItemUpdate(expected_output="Go to Settings > Security > Reset Password, then check email."),
    )
    store.datasets.add_items(
        DATASET,
        [
            ItemCreate(
                input={"question": "Can I change my username?"},
                expected_output="Yes: Settings > Profile > Username.",
                context={"category": "account"},
                tags=["account", "easy"],
            )
        ],
    )
    store.datasets.create(
        DatasetCreate(name="billing-edge-cases", description="Invoices, refunds and taxes")
    )
    store.datasets.add_items(
        "billing-edge-cases",
        [ItemCreate(input={"question": "Is VAT included?"}, expected_output="No, VAT is extra.")],
    )
    says_settings = store.evaluators.create(
        EvaluatorCreate(name="mentions-settings", kind="contains", params={"value": "Settings"})
    )
    scorers = [exact_match(ignore_case=True, ignore_punctuation=True), token_f1()]
    v1 = assay.evaluate(
        DATASET, bot_v1, scorers, name="support-bot v1", run_tag="main", store=store
    )
    v2 = assay.evaluate(DATASET, bot_v2, scorers, name="support-bot v2", store=store)
    trials = assay.evaluate(
        DATASET, support_bot_v2, scorers, name="support-bot v2 · 3 trials", trials=3, store=store
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        failed = assay.evaluate(DATASET, _broken, scorers, name="support-bot v3", store=store)
    store.evaluators.attach(DATASET, says_settings.id)  # after the runs: only offered for new runs
    store.policies.set(DATASET, {"min_pass_rate": 0.6, "max_drop": 0.05, "baseline_tag": "main"})
    _prompts(store)
    trace_id = _traces(store)
    store.online_rules.create(
        OnlineRuleCreate(
            name="support answers",
            filter=TraceFilter(name="support-agent"),
            sample_rate=0.5,
            evaluators=[OnlineEvaluatorRef(evaluator="mentions-settings")],
        )
    )
    return Showcase(v1.id, v2.id, trials.id, failed.id, first.id, trace_id)


def _prompts(store: Store) -> None:
    """Two versions of a text prompt (each run over the dataset) and a chat prompt."""
    templates = [
        ("You answer support questions.\n\nQuestion: {{ input.question }}", "gpt-4o-mini", 0.7),
        (
            "You answer support questions in one sentence, naming the menu path.\n\n"
            "Question: {{ input.question }}",
            "gpt-4o",
            0.2,
        ),
    ]
    key = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = "sk-showcase"  # the fake provider takes any key
    with FakeProvider(reply=lambda text: f"Settings: {text[-40:]}") as fake:
        for n, (template, model, temperature) in enumerate(templates, start=1):
            store.prompts.create(
                PromptCreate(
                    name=PROMPT,
                    template=template,
                    model_config_={"model": model, "temperature": temperature},
                    labels=["production"] if n == 1 else ["staging"],
                )
            )
            target = {
                "type": "prompt",
                "prompt": PROMPT,
                "version": n,
                "provider": "openai",
                "base_url": fake.openai_url,
            }
            assay.evaluate(
                DATASET, target, [token_f1()], name=f"{PROMPT} v{n}", first=8, store=store
            )
    if key is None:
        del os.environ["OPENAI_API_KEY"]
    else:
        os.environ["OPENAI_API_KEY"] = key
    store.prompts.create(
        PromptCreate(
            name="ticket-classifier",
            messages=[
                {"role": "system", "content": "Classify the ticket: account, billing or other."},
                {"role": "user", "content": "{{ input.question }}"},
            ],
            model_config_={"model": "claude-3-5-haiku", "provider": "anthropic"},
        )
    )


def _traces(store: Store) -> str:
    """A conversation of three traced turns (nested observations) and one failed trace."""
    t = "2026-03-02T10:0{}:0{}Z"
    turns = [
        ("How do I reset my password?", "Go to Settings > Security > Reset Password."),
        ("And my email?", "Open Settings > Profile and edit the email field."),
        ("Thanks!", "You're welcome."),
    ]
    traces = []
    for n, (question, answer) in enumerate(turns):
        spans = [
            ("root", None, "support-agent", "span", t.format(n, 0), t.format(n, 4)),
            ("retrieve", "root", "retrieve-docs", "span", t.format(n, 0), t.format(n, 1)),
            ("llm", "root", "answer", "generation", t.format(n, 1), t.format(n, 3)),
            ("lookup", "llm", "kb-search", "tool", t.format(n, 1), t.format(n, 2)),
        ]
        observations = []
        for key, parent, name, kind, begin, finish in spans:
            fields: dict[str, Any] = {
                "id": f"{n}-{key}",
                "parent_id": f"{n}-{parent}" if parent else None,
                "name": name,
                "type": kind,
                "start_time": begin,
                "end_time": finish,
            }
            if kind == "generation":
                fields |= {
                    "model": "gpt-4o-mini",
                    "input": [{"role": "user", "content": question}],
                    "output": {"role": "assistant", "content": answer},
                    "tokens_in": 120 + n,
                    "tokens_out": 18,
                    "cost": 0.00012,
                }
            observations.append(ObservationCreate.model_validate(fields))
        traces.append(
            TraceCreate(
                id=f"trace-{n + 1}",
                name="support-agent",
                input=question,
                output=answer,
                session_id=SESSION,
                user_id="user-12",
                tags=["support"],
                observations=observations,
            )
        )
    traces.append(
        TraceCreate(
            id="trace-err",
            name="support-agent",
            input="Where is my invoice?",
            observations=[
                ObservationCreate(
                    id="err-root",
                    name="support-agent",
                    level="ERROR",
                    status_message="billing service timed out",
                )
            ],
        )
    )
    store.traces.ingest(traces)
    return "trace-2"


def pages(s: Showcase) -> list[tuple[str, str]]:
    """Every page of the dashboard as (file-friendly name, path)."""
    d = f"/datasets/{DATASET}"
    return [
        ("datasets", "/datasets"),
        ("dataset-items", d),
        ("dataset-item-history", f"{d}/items/{s.item_id}"),
        ("dataset-versions", f"{d}/versions"),
        ("dataset-runs", f"{d}/runs"),
        ("dataset-evaluators", f"{d}/evaluators"),
        ("dataset-gate", f"{d}/gate"),
        ("dataset-analytics", f"{d}/analytics"),
        ("runs", "/runs"),
        ("run", f"/runs/{s.v2_id}"),
        ("run-trials", f"/runs/{s.trials_id}"),
        ("run-failed", f"/runs/{s.failed_id}"),
        ("compare", f"/compare?runs={s.v1_id}&runs={s.v2_id}"),
        ("traces", "/traces"),
        ("trace", f"/traces/{s.trace_id}"),
        ("sessions", "/sessions"),
        ("session", f"/sessions/{SESSION}"),
        ("online", "/online"),
        ("prompts", "/prompts"),
        ("prompt", f"/prompts/{PROMPT}"),
        ("prompt-compare", f"/prompts/{PROMPT}/compare?a=1&b=2"),
        ("error", "/datasets/no-such-dataset"),
    ]
