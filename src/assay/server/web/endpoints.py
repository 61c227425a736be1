"""Saved API endpoints (what "API Record" runs call): list, create, edit, try with one input.

Secret headers are write-only: the pages show their names masked and never their values.
Editing an endpoint without retyping a secret keeps it; a secret can be removed by name, and
a new URL drops the stored secrets (as the API does) so a secret never follows a URL change.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError

from assay.domain import Endpoint, EndpointCreate, EndpointUpdate
from assay.errors import Conflict, Forbidden, InvalidInput, NotFound, from_validation
from assay.outbound import server_policy
from assay.server.auth import ProjectStore
from assay.server.web.guard import FormGuard
from assay.server.web.query import json_field
from assay.server.web.templating import render
from assay.service.endpoints import try_endpoint
from assay.store import Store

router = APIRouter()

MASK = "••••••"
SAMPLE = '{"query": "hello"}'


class EndpointForm(BaseModel):
    """The endpoint form's text fields; headers are one ``Name: value`` per line."""

    name: str = ""
    url: str = ""
    method: str = "POST"
    headers: str = ""
    secret_headers: str = ""
    body_template: str = ""
    output_path: str = ""
    timeout_s: str = "30"
    remove_secrets: list[str] = []

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointForm:
        headers = "\n".join(f"{k}: {v}" for k, v in endpoint.headers.items())
        return cls(
            name=endpoint.name,
            url=endpoint.url,
            method=endpoint.method,
            headers=headers,
            body_template=endpoint.body_template or "",
            output_path=endpoint.output_path or "",
            timeout_s=f"{endpoint.timeout_s:g}",
        )

    def fields(self) -> dict[str, Any]:
        """The values an endpoint is saved with (secret headers apart); errors name the field."""
        try:
            timeout = float(self.timeout_s)
        except ValueError:
            raise InvalidInput(
                f"timeout_s: {self.timeout_s!r} is not a number of seconds", field="timeout_s"
            ) from None
        return {
            "name": self.name,
            "url": self.url,
            "method": self.method.upper(),
            "headers": _headers(self.headers, "headers"),
            "body_template": self.body_template.strip() or None,
            "output_path": self.output_path.strip() or None,
            "timeout_s": timeout,
        }

    def new_secrets(self) -> dict[str, str]:
        return _headers(self.secret_headers, "secret_headers")

    def shown(self) -> dict[str, Any]:
        """What the form shows again after an error: never a secret's value."""
        return self.model_dump(exclude={"secret_headers"})


def _headers(text: str, field: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise InvalidInput(
                f"{field}: line {n} is not 'Name: value' ({line.strip()[:40]!r})", field=field
            )
        headers[name.strip()] = value.strip()
    return headers


def _screen(request: Request, url: str) -> None:
    """The server's outbound rule, as when the API saves an endpoint."""
    server_policy(request.app.state.assay.settings).screen_url(url)


@router.get("/endpoints", response_class=HTMLResponse)
def endpoints_page(request: Request, store: ProjectStore) -> HTMLResponse:
    """Every saved endpoint and the form that adds one."""
    return render(request, "endpoints.html", _list_context(store, EndpointForm(), None))


def _list_context(store: Store, form: EndpointForm, error: str | None) -> dict[str, Any]:
    return {
        "section": "endpoints",
        "endpoints": store.endpoints.list(limit=1000).items,
        "form": form.shown(),
        "error": error,
        "endpoint": None,
        "mask": MASK,
    }


@router.post("/endpoints", response_class=HTMLResponse, dependencies=[FormGuard])
def create_endpoint(
    request: Request, store: ProjectStore, form: Annotated[EndpointForm, Form()]
) -> HTMLResponse:
    """Save a new endpoint; a bad field or a refused URL re-renders the form with the reason."""
    try:
        data = EndpointCreate(**form.fields(), secret_headers=form.new_secrets())
        _screen(request, data.url)
        created = store.endpoints.create(data)
    except ValidationError as exc:
        error = from_validation(exc).message
    except (InvalidInput, Conflict, Forbidden) as exc:
        error = exc.message
    else:
        return HTMLResponse("", headers={"HX-Redirect": f"/endpoints/{quote(created.id)}"})
    context = _list_context(store, form, error)
    return render(request, "endpoint_form.html", context, status=422)


def _page(store: Store, endpoint: Endpoint, **extra: Any) -> dict[str, Any]:
    return {
        "section": "endpoints",
        "endpoint": endpoint,
        "form": EndpointForm.of(endpoint).shown(),
        "error": None,
        "saved": False,
        "mask": MASK,
        "sample": SAMPLE,
        "expected": "",
        "trial": None,
        "datasets": [d.name for d in store.datasets.list(limit=200).items],
    } | extra


@router.get("/endpoints/{endpoint_id}", response_class=HTMLResponse)
def endpoint_page(request: Request, store: ProjectStore, endpoint_id: str) -> HTMLResponse:
    """One endpoint: its form (secrets masked) and a test with one sample input."""
    return render(request, "endpoint.html", _page(store, store.endpoints.get(endpoint_id)))


@router.post("/endpoints/{endpoint_id}", response_class=HTMLResponse, dependencies=[FormGuard])
def edit_endpoint(
    request: Request, store: ProjectStore, endpoint_id: str, form: Annotated[EndpointForm, Form()]
) -> HTMLResponse:
    """Change an endpoint. Secrets not retyped are kept (unless the URL changes: then only
    the ones typed now are stored); a secret is removed by ticking it."""
    endpoint = store.endpoints.get(endpoint_id)
    try:
        fields = form.fields()
        typed = form.new_secrets()
        removed = set(form.remove_secrets)
        if fields["url"] != endpoint.url:
            if typed:
                fields["secret_headers"] = typed
        elif typed or removed & set(endpoint.secret_header_names):
            kept = store.endpoints.secrets(endpoint.id)
            fields["secret_headers"] = {k: v for k, v in kept.items() if k not in removed} | typed
        change = EndpointUpdate(**fields)
        _screen(request, change.url or endpoint.url)
        updated = store.endpoints.update(endpoint.id, change)
    except ValidationError as exc:
        error = from_validation(exc).message
    except (InvalidInput, Conflict, Forbidden) as exc:
        error = exc.message
    else:
        dropped = sorted(set(endpoint.secret_header_names) - set(updated.secret_header_names))
        return render(
            request,
            "endpoint_form.html",
            _page(store, updated, saved=True, dropped=dropped),
        )
    context = _page(store, endpoint, error=error, form=form.shown())
    return render(request, "endpoint_form.html", context, status=422)


@router.post("/endpoints/{endpoint_id}/test", response_class=HTMLResponse, dependencies=[FormGuard])
async def try_endpoint_form(
    request: Request,
    store: ProjectStore,
    endpoint_id: str,
    sample: Annotated[str, Form()] = "",
    expected: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Send one sample input through the endpoint, under the server's outbound policy, and
    show the response and the output its output path extracts."""
    endpoint = store.endpoints.get(endpoint_id)
    value = json_field(sample, default="")
    wanted = json_field(expected, default=None)
    if value == "":
        trial = None
        error: str | None = "sample: give an input to send (JSON or text)"
    else:
        settings = request.app.state.assay.settings
        trial = await try_endpoint(store, settings, endpoint.id, value, wanted)
        error = None
    context = _page(store, endpoint, sample=sample, expected=expected, trial=trial, error=error)
    return render(request, "endpoint_test.html", context, status=422 if error else 200)


@router.post(
    "/endpoints/{endpoint_id}/delete", response_class=HTMLResponse, dependencies=[FormGuard]
)
def delete_endpoint(store: ProjectStore, endpoint_id: str) -> HTMLResponse:
    """Delete the endpoint; runs that used it keep what they recorded."""
    with suppress(NotFound):  # already gone: the list is where the user wanted to be
        store.endpoints.delete(endpoint_id)
    return HTMLResponse("", headers={"HX-Redirect": "/endpoints"})
