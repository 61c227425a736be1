"""The API fixtures of the integration tests (the app on the test database, the SDK client)."""

from tests.integration.conftest import (
    BASE,
    aclient,
    api_settings,
    app,
    client,
    fake,
    http,
    keyed_app,
    qa,
)

__all__ = [
    "BASE",
    "aclient",
    "api_settings",
    "app",
    "client",
    "fake",
    "http",
    "keyed_app",
    "qa",
]
