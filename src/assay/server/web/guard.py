"""Dashboard forms accept only requests sent by the dashboard's own pages.

HTMX sends ``HX-Request: true`` with every request it makes. A browser sends no custom header
across origins without a CORS preflight, which this server never grants, so requiring it
stops another site from submitting a form to a signed-in (or keyless loopback) dashboard.
"""

from __future__ import annotations

from fastapi import Depends, Request

from assay.errors import Forbidden


def same_origin_form(request: Request) -> None:
    if request.headers.get("hx-request") != "true":
        raise Forbidden("forms are accepted only from the dashboard's own pages")


FormGuard = Depends(same_origin_form)
