"""Identifiers made in bulk for imports."""

from __future__ import annotations

import uuid

from assay.ids import new_id
from assay.store.bulk import new_ids


def test_new_ids_are_uuid7_strings_like_new_id() -> None:
    ids = new_ids(2_000)
    assert len(set(ids)) == 2_000
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == value
    # Same millisecond prefix layout as single ids, so bulk and single rows sort together.
    assert ids[0][:13] <= new_id()[:13]


def test_new_ids_of_nothing() -> None:
    assert new_ids(0) == []
