"""Word-level diff of two outputs."""

from __future__ import annotations

import difflib
import re
from typing import Any

import orjson

from assay.domain import DiffOp

_TOKENS = re.compile(r"\s+|[^\s]+")


def as_text(output: Any) -> str:
    """Outputs are JSON: strings diff as they are, anything else as sorted, indented JSON."""
    if output is None:
        return ""
    if isinstance(output, str):
        return output
    return orjson.dumps(output, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode()


def word_diff(before: str, after: str) -> list[DiffOp]:
    """Operations turning ``before`` into ``after`` word by word; whitespace is kept.

    Joining the ``equal`` and ``delete`` texts gives ``before``; ``equal`` and ``insert`` give
    ``after``. Neighbouring operations of the same kind are merged.
    """
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    ops: list[DiffOp] = []

    def add(op: str, tokens: list[str]) -> None:
        if not tokens:
            return
        text = "".join(tokens)
        if ops and ops[-1].op == op:
            ops[-1] = DiffOp(op=ops[-1].op, text=ops[-1].text + text)
        else:
            ops.append(DiffOp.model_validate({"op": op, "text": text}))

    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            add("equal", a[i1:i2])
        else:
            add("delete", a[i1:i2])
            add("insert", b[j1:j2])
    return ops
