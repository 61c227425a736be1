"""New items built without running the model's validator, for the bulk write paths (an inline
list given to ``evaluate()``, files read by the importers).

Validating an :class:`~assay.domain.ItemCreate` strips whitespace from strings and object
keys, copies containers and checks JSON types. A row whose values already have exactly the
form validation gives them (:func:`is_plain_item`) is written as it is, for a fraction of the
cost; whatever is doubtful (other types, text to strip, aliases, errors) is left to the
validator, so its messages and results stay the model's. :func:`trusted_item` builds a record
from values a reader has put in that form itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson
from pydantic import BaseModel

from assay.domain.datasets import ItemCreate, ItemSource

#: What pydantic strips from strings (Unicode White_Space, as Rust's ``str::trim``); Python's
#: own ``str.strip()`` also strips the ASCII separators U+001C..U+001F.
WS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# A text is plain when ``text.strip(WS) == text``. Tests below try ``text.strip() == text``
# first, which costs less and implies it (``str.strip()`` strips every character of ``WS``).

#: Deeper JSON values are left to the validator (which also reports cycles).
MAX_DEPTH = 64

_sha256 = hashlib.sha256
_dumps = orjson.dumps
_SORT_KEYS = orjson.OPT_SORT_KEYS

#: A new item on the bulk write paths: an ``ItemCreate``, or a row :func:`is_plain_item`
#: accepted, whose missing fields take their defaults (so no record is built for it).
NewItem = ItemCreate | dict[str, Any]


def strip_ws(value: str) -> str:
    """A string stripped as the item validator strips it."""
    return value.strip(WS)


def plain_keys(value: dict[Any, Any]) -> bool:
    """Whether every key of an object is text with nothing for the validator to strip."""
    for key in value:  # a loop costs less than all() over a generator
        if key.__class__ is not str or (key.strip() != key and key.strip(WS) != key):
            return False
    return True


def plain_json(value: Any, depth: int = 0) -> bool:
    """A JSON value as validation leaves it: exact JSON types, text with nothing to strip."""
    cls = value.__class__
    if cls is str:
        return value.strip() == value or value.strip(WS) == value  # type: ignore[no-any-return]
    if value is None or cls is int or cls is float or cls is bool:
        return True
    if depth >= MAX_DEPTH:
        return False
    if cls is list:
        for v in value:
            if v.__class__ is str:  # text inline: the common leaf, without a call
                if v.strip() != v and v.strip(WS) != v:
                    return False
            elif not plain_json(v, depth + 1):
                return False
        return True
    if cls is dict:
        for k, v in value.items():
            if k.__class__ is not str or (k.strip() != k and k.strip(WS) != k):
                return False
            if v.__class__ is str:
                if v.strip() != v and v.strip(WS) != v:
                    return False
            elif not plain_json(v, depth + 1):
                return False
        return True
    return False


def _plain_input(value: Any) -> bool:
    if value.__class__ is dict:
        return plain_keys(value)  # values are not checked: the field takes any
    return value.__class__ is str and (value.strip() == value or value.strip(WS) == value)


def _plain_object(value: Any) -> bool:
    return value.__class__ is dict and plain_keys(value)


def plain_tags(value: Any) -> bool:
    """Whether a tags value is a list of tags as the validator leaves them."""
    if value.__class__ is not list:
        return False
    for tag in value:
        if tag.__class__ is not str or not 0 < len(tag) <= 100:
            return False
        if tag.strip() != tag and tag.strip(WS) != tag:
            return False
    return True


def _plain_source(value: Any) -> bool:
    return value.__class__ is ItemSource


def _plain_text_or_none(value: Any) -> bool:
    return value is None or (
        value.__class__ is str and (value.strip() == value or value.strip(WS) == value)
    )


def _plain_int_or_none(value: Any) -> bool:
    return value is None or value.__class__ is int


#: Per field, whether a value is already in its final form.
_CHECKS: dict[str, Callable[[Any], bool]] = {
    "input": _plain_input,
    "expected_output": plain_json,
    "context": plain_json,
    "metadata": _plain_object,
    "tags": plain_tags,
    "source": _plain_source,
    "source_trace_id": _plain_text_or_none,
    "sort_order": _plain_int_or_none,
}


def is_plain_item(row: dict[str, Any]) -> bool:
    """Whether validating ``row`` as an ``ItemCreate`` would accept it and change nothing but
    the defaults of missing fields: only field names as keys (no aliases), each value of its
    final type (exact ``str``, ``dict``, ``list``, ``int``...), no whitespace to strip, tags
    of 1 to 100 characters, ``source`` an :class:`ItemSource`. Such a row is a
    :data:`NewItem` as it is."""
    if "input" not in row:
        return False
    checks = _CHECKS
    for key, value in row.items():
        check = checks.get(key)
        if check is None or not check(value):
            return False
    return True


def item_fields(item: NewItem) -> dict[str, Any]:
    """The field values of a new item (a plain row's lacks the fields left to default)."""
    return item if item.__class__ is dict else item.__dict__


def new_item_hash(fields: dict[str, Any]) -> str:
    """:func:`~assay.domain.item_content_hash` of a new item's fields (see :func:`item_fields`),
    spelt out: it runs for every row of a list."""
    get = fields.get
    tags = get("tags")
    values = [
        fields["input"],
        get("expected_output"),
        get("context"),
        get("metadata") or {},
        sorted(tags) if tags else [],
    ]
    return _sha256(_dumps(values, option=_SORT_KEYS)).hexdigest()


_set = object.__setattr__
_new = ItemCreate.__new__
#: The model's own slots, set through their descriptors (``BaseModel.__setattr__`` is slow).
_set_fields_set = vars(BaseModel)["__pydantic_fields_set__"].__set__
_set_extra = vars(BaseModel)["__pydantic_extra__"].__set__
_set_private = vars(BaseModel)["__pydantic_private__"].__set__


def trusted_item(values: dict[str, Any], fields_set: set[str]) -> ItemCreate:
    """An ``ItemCreate`` of ``values``: every field, in the model's order, already in the form
    validation gives it (the caller has checked them). What ``model_construct`` does, without
    its per-field work."""
    item = _new(ItemCreate)
    _set(item, "__dict__", values)
    _set_fields_set(item, fields_set)
    _set_extra(item, None)
    _set_private(item, None)
    return item


#: Every field in the model's order; ``None`` stands for the fresh empty object and list that
#: ``metadata`` and ``tags`` default to.
_DEFAULTS: dict[str, Any] = dict.fromkeys(ItemCreate.model_fields) | {"source": ItemSource.manual}


def record_of(item: NewItem) -> ItemCreate:
    """The ``ItemCreate`` of a new item: itself, or the record of a plain row (sharing its
    values), as the validator would have made it."""
    if item.__class__ is not dict:
        return item  # type: ignore[return-value]
    values = {**_DEFAULTS, **item}
    if values["metadata"] is None:
        values["metadata"] = {}
    if values["tags"] is None:
        values["tags"] = []
    return trusted_item(values, set(item))
