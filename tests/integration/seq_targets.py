"""Targets the sequential-run tests name by import path."""

from __future__ import annotations


def right(question: str) -> str:
    """The expected answer of the ``q{i}`` items."""
    return "a" + question[1:]
