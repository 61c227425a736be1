"""Without authentication the server only listens on loopback."""

from __future__ import annotations

import pytest

from assay.config import Settings
from assay.errors import InvalidInput
from assay.server.serve import check_bind, is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_allowed_without_auth(host: str) -> None:
    assert is_loopback(host)
    check_bind(host, Settings(auth="none"))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.com"])
def test_other_addresses_need_auth(host: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_bind(host, Settings(auth="none"))
    assert "ASSAY_AUTH=keys" in info.value.message
    check_bind(host, Settings(auth="keys"))
