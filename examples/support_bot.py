"""A tiny, deterministic support "bot" used as a function target by examples/run.yaml.

It answers from a fixed table of keywords, so runs need no network and no API key.
"""

from __future__ import annotations

ANSWERS = {
    "password": "Go to Settings > Security > Reset Password",
    "pricing": "We offer Free, Pro, and Enterprise plans",
    "support": "Email support@example.com or use the in-app chat",
}


def answer(question: dict[str, str] | str) -> str:
    """Return the canned answer whose keyword appears in the question."""
    text = question["query"] if isinstance(question, dict) else question
    lowered = text.lower()
    for keyword, reply in ANSWERS.items():
        if keyword in lowered:
            return reply
    return "Sorry, I don't know."
