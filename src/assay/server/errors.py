"""One error envelope for every 4xx/5xx: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from assay.errors import AssayError, Unauthorized, from_validation
from assay.server.web.templating import env

log = logging.getLogger("assay.server")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorEnvelope(BaseModel):
    """The shape of every 4xx/5xx response."""

    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorEnvelope, "description": "The request was refused; see error.code."},
    "5XX": {"model": ErrorEnvelope, "description": "A server fault."},
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


_NOT_PAGES = ("/api/", "/v1/", "/health", "/docs", "/openapi.json", "/static/")


def _page(request: Request) -> bool:
    """A dashboard page (not the API): errors render as HTML for a person."""
    return not request.url.path.startswith(_NOT_PAGES)


def html_error(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> HTMLResponse:
    """An error page; for an HTMX request, a message shown above the page it came from."""
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Basic realm="assay"')
    if request.headers.get("hx-request") == "true":
        html = env.get_template("error_flash.html").render(message=message)
        headers.update({"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"})
        return HTMLResponse(html, status_code=status, headers=headers)
    title = {401: "Sign in needed", 403: "Not allowed", 404: "Not found"}.get(
        status, "Something went wrong" if status >= 500 else "That did not work"
    )
    html = env.get_template("error.html").render(title=title, message=message, section="")
    return HTMLResponse(html, status_code=status, headers=headers)


def envelope(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", 'Basic realm="assay"')
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
        headers=headers,
    )


def _field(loc: Sequence[int | str]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def _problem(error: Any) -> dict[str, str]:
    if error.get("type") == "json_invalid":
        # FastAPI reports the character offset as the location; it is not a field.
        where = error["loc"][-1] if error.get("loc") else "?"
        return {"field": "body", "message": f"invalid JSON at character {where}"}
    return {"field": _field(error["loc"]), "message": error["msg"]}


def validation_envelope(errors: Sequence[Any]) -> JSONResponse:
    """422 naming the field path of every problem; the first one is the message."""
    problems = [_problem(e) for e in errors]
    first = problems[0] if problems else {"field": "body", "message": "invalid request"}
    details: dict[str, Any] = {"field": first["field"], "errors": problems}
    loc = list(errors[0]["loc"]) if errors else []
    if len(loc) >= 3 and loc[1] in ("items", "traces") and isinstance(loc[2], int):
        details["row"] = loc[2] + 1
    return envelope(422, "invalid_input", f"{first['field']}: {first['message']}", details)


async def _assay_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AssayError)
    if exc.status >= 500:
        log.error("request failed: %s", exc.message, exc_info=exc)
    if _page(request):
        return html_error(request, exc.status, exc.message)
    return envelope(exc.status, exc.code, exc.message, exc.details)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _page(request):
        problem = _problem(exc.errors()[0]) if exc.errors() else {"field": "?", "message": "?"}
        return html_error(request, 422, f"{problem['field']}: {problem['message']}")
    return validation_envelope(exc.errors())


async def _pydantic_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    err = from_validation(exc)
    return envelope(err.status, err.code, err.message, err.details)


def _allowed_methods(request: Request) -> str | None:
    """Every method some route serves at this path (Starlette names only the first match)."""
    from assay.server.auth import served_routes

    path = request.url.path
    methods: set[str] = set()
    for route in served_routes(request.app):
        regex, _, _ = compile_path(route.path)
        if regex.match(path):
            methods |= route.methods
    return ", ".join(sorted(methods)) if methods else None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if _page(request) and exc.status_code in (404, 401):
        message = "no such page" if exc.status_code == 404 else str(exc.detail)
        return html_error(request, exc.status_code, message, headers)
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed:
            headers["Allow"] = allowed
    if exc.status_code == 401:
        return envelope(401, Unauthorized.code, str(exc.detail), headers=headers)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return envelope(exc.status_code, code, message, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    if _page(request):
        return html_error(request, 500, "internal server error")
    return envelope(500, "internal", "internal server error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(AssayError, _assay_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _pydantic_validation)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
