"""The one error tree. Every error carries an HTTP status and a machine code.

    AssayError (500, internal)
    ├── InvalidInput (422, invalid_input)   field / row / column at fault in ``details``
    ├── NotFound (404, not_found)
    ├── Conflict (409, conflict)
    ├── Unauthorized (401, unauthorized)
    ├── Forbidden (403, forbidden)
    ├── PayloadTooLarge (413, payload_too_large)
    └── StorageError (503, storage_unavailable)

The API renders them as ``{"error": {"code", "message", "details"}}``; the CLI prints the
message on one line and exits non-zero. Per-item failures in an experiment are data, not errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import ValidationError


class AssayError(Exception):
    """Base of every error Assay raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = {k: v for k, v in details.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(AssayError):
    """The caller sent something we cannot accept; ``details`` names row, field and reason."""

    status = 422
    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        row: int | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, field=field, row=row, **details)
        self.field = field
        self.row = row


class NotFound(AssayError):
    status = 404
    code = "not_found"


class Conflict(AssayError):
    status = 409
    code = "conflict"


class Unauthorized(AssayError):
    status = 401
    code = "unauthorized"


class Forbidden(AssayError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(AssayError):
    status = 413
    code = "payload_too_large"


class StorageError(AssayError):
    status = 503
    code = "storage_unavailable"


class AssayWarning(UserWarning):
    """Base of the warnings Assay issues."""


class AllItemsFailedWarning(AssayWarning):
    """``evaluate()`` finished and every item failed: the task (or the setup) is broken."""


def from_validation(
    exc: ValidationError, *, prefix: str = "", row: int | None = None
) -> InvalidInput:
    """Turn pydantic's first validation error into an InvalidInput naming the field."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    at = f"row {row}: " if row is not None else ""
    where = f"{prefix}{field}" if field else prefix.rstrip(".") or "value"
    return InvalidInput(f"{at}{where}: {first['msg']}", field=where, row=row)
