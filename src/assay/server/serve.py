"""Running the server: the bind-address safety rule, then uvicorn."""

from __future__ import annotations

import ipaddress

from assay.config import Settings
from assay.errors import InvalidInput

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: Settings) -> None:
    """Without authentication the server is single-user: it may only listen on loopback."""
    if settings.auth == "none" and not is_loopback(host):
        raise InvalidInput(
            f"refusing to listen on {host} without authentication: anyone who can reach it "
            "could read and change every dataset. Set ASSAY_AUTH=keys and create a key with "
            "`assay keys create --project NAME`, or listen on 127.0.0.1",
            field="host",
        )


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Apply migrations, build the app and serve it until interrupted."""
    import uvicorn

    from assay.server.app import create_app

    check_bind(host, settings)
    app = create_app(settings)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)
