"""Ids that callers choose for rows whose ids are unique across projects (uploaded runs and
their results).

Such an id that another project already holds cannot be used here, but saying so would tell
the caller that the other project has it. It is refused with exactly the error of a malformed
id, and the check for a malformed id comes first, so the two cannot be told apart.
"""

from __future__ import annotations

import re

from assay.errors import InvalidInput

_WELL_FORMED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,35}$")


def unusable(field: str, value: str) -> InvalidInput:
    """The one error for a client-chosen id that cannot be used, whatever the reason."""
    return InvalidInput(
        f"{field}: {value!r} cannot be used as an id; choose another: up to 36 letters, digits "
        "and - _ . : (a new UUID always works)",
        field=field,
    )


def check(field: str, value: str) -> None:
    """Refuse a malformed client-chosen id (with :func:`unusable`)."""
    if not _WELL_FORMED.match(value):
        raise unusable(field, value)
