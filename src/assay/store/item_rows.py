"""Item rows: which rows are alive at a version, rows as records, schema checks."""

from __future__ import annotations

import hashlib
import struct
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import ColumnElement, Row, and_, or_

from assay.domain import Item, ItemSource
from assay.domain.item_values import NewItem
from assay.errors import InvalidInput
from assay.store.tables import dataset_items

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


def _validator(schema: dict[str, Any] | None) -> Draft202012Validator | None:
    if not schema:
        return None
    from jsonschema import Draft202012Validator  # only datasets with a schema need it

    return Draft202012Validator(schema)


class SchemaCheck:
    """Validates item input / expected output against the dataset's JSON Schemas."""

    def __init__(self, row: Any) -> None:
        """``row``: the dataset's row, or anything with its ``input_schema`` and
        ``expected_output_schema``."""
        self.input = _validator(row.input_schema)
        self.expected = _validator(row.expected_output_schema)

    def check(self, item: NewItem | Item, row: int | None = None) -> None:
        fields = item if isinstance(item, dict) else item.__dict__
        for field, validator, value in (
            ("input", self.input, fields["input"]),
            ("expected_output", self.expected, fields.get("expected_output")),
        ):
            if validator is None:
                continue
            error = next(iter(validator.iter_errors(value)), None)
            if error is not None:
                path = ".".join(str(p) for p in error.absolute_path)
                where = f"{field}.{path}" if path else field
                at = f"row {row}: " if row is not None else ""
                raise InvalidInput(
                    f"{at}{where} does not match the dataset schema: {error.message}",
                    field=where,
                    row=row,
                )


def item_record(row: Row[Any]) -> Item:
    m = row._mapping
    return Item.model_construct(
        id=m["id"],
        dataset_id=m["dataset_id"],
        version=m["valid_from"],
        input=m["input"],
        expected_output=m["expected_output"],
        context=m["context"],
        metadata=m["metadata"],
        tags=m["tags"],
        source=ItemSource(m["source"]),
        source_trace_id=m["source_trace_id"],
        sort_order=m["sort_order"],
        archived=m["archived"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys: equal values give equal bytes, whatever their keys' order."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


_INT64 = struct.Struct(">q").unpack_from


class InputKeys:
    """The indexed lookup key of an item input within one dataset (``dataset_items.input_key``).

    The first 8 bytes of SHA-256 over the dataset id and the input's canonical JSON, as a
    signed 64-bit integer: an upload naming items by input reads only the items with its key.
    Keys may collide, so a match is confirmed by comparing the inputs themselves. The dataset
    id is part of the digest so that one small single-column index serves every dataset: the
    same input in another dataset has another key.
    """

    def __init__(self, dataset_id: str) -> None:
        self.prefix = dataset_id.encode() + b"\n"
        self._digest = hashlib.sha256(self.prefix)  # copied per key: cheaper than a new one

    def __call__(self, value: Any) -> int:
        return self.of_canonical(canonical_json(value))

    def of_canonical(self, text: bytes) -> int:
        """The key of an input given as its canonical JSON."""
        digest = self._digest.copy()
        digest.update(text)
        key: int = _INT64(digest.digest())[0]
        return key


def alive_at(version: int | None, *, indexed: bool = True) -> ColumnElement[bool]:
    """Item rows alive at ``version`` (``None``: the current version).

    ``indexed=False`` keeps the planner off the version indexes (``+ 0``), for queries whose
    other conditions are the selective ones (a few ids or input keys).
    """
    c = dataset_items.c
    if version is None:
        return c.valid_to.is_(None)
    valid_from = c.valid_from if indexed else c.valid_from + 0
    return and_(valid_from <= version, or_(c.valid_to.is_(None), c.valid_to > version))
