"""Two versions of a small, deterministic support bot: the targets of ``assay demo``.

They answer from a keyword table, so the demo needs no network and no key, yet behaves like a
real change: version 2 knows more topics and words answers better, but one answer regressed
and it costs more per call.
"""

from __future__ import annotations

import asyncio
from typing import Any

from assay.targets import TargetOutput

_V1 = {
    "reset my password": "Go to Settings > Security > Reset Password.",
    "email address": "Open Settings > Profile and edit the email field.",
    "pricing plans": "We offer Free, Pro and Enterprise plans.",
    "refunds": "Yes, within 14 days of purchase.",
    "invoice": "Billing > Invoices > Download PDF.",
    "contact support": "Email support@example.com or use the in-app chat.",
    "invite a teammate": "Team > Invite and enter their email address.",
    "mobile app": "Yes, for iOS and Android.",
    "api": "Yes, we have an API.",
    "export my data": "You can export your data from the settings.",
}

_V2 = {
    **_V1,
    "two-factor": "Yes: Settings > Security > Two-factor authentication.",
    "delete my account": "Settings > Account > Delete account; this cannot be undone.",
    "pro plan cost": "Pro costs $20 per user per month.",
    "pay annually": "Yes, annual billing saves 15%.",
    "support hours": "Monday to Friday, 9:00 to 18:00 CET.",
    "remove a teammate": "Team > Members > Remove.",
    "roles": "Yes: Owner, Admin, Member and Viewer roles.",
    "import a csv": "Yes: Projects > Import > CSV.",
    "api": "Yes, a REST API documented at /docs/api.",
    "export my data": "Settings > Data > Export creates a ZIP archive.",
    # A regression: the refund window was misremembered in the new knowledge base.
    "refunds": "Yes, within 30 days of purchase.",
}

_FALLBACK = "Sorry, I don't know. Please contact support."


def _answer(table: dict[str, str], question: str) -> str:
    lowered = question.lower()
    for keyword, reply in table.items():
        if keyword in lowered:
            return reply
    return _FALLBACK


async def _reply(
    table: dict[str, str], item_input: Any, price_in: float, price_out: float
) -> TargetOutput:
    question = item_input["question"] if isinstance(item_input, dict) else str(item_input)
    answer = _answer(table, question)
    tokens_in, tokens_out = 40 + len(question.split()) * 2, len(answer.split()) * 2
    await asyncio.sleep(0.002 + 0.0004 * tokens_out)  # latency grows with the answer
    return TargetOutput(
        output=answer,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=(tokens_in * price_in + tokens_out * price_out) / 1_000_000,
    )


async def bot_v1(input: Any) -> TargetOutput:
    """The baseline: a small table and a cheap model."""
    return await _reply(_V1, input, price_in=0.15, price_out=0.60)


async def bot_v2(input: Any) -> TargetOutput:
    """The candidate: a bigger table and a pricier model."""
    return await _reply(_V2, input, price_in=2.50, price_out=10.00)
