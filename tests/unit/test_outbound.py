"""The outbound URL check refuses internal addresses, after resolution, unless allow-listed."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from assay.errors import Forbidden, InvalidInput
from assay.outbound import check_url


def resolver(*addresses: str):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.8.9.10:9000/x",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(Forbidden):
        check_url(url, resolve=resolver("93.184.215.14"))


def test_names_are_checked_after_resolution() -> None:
    with pytest.raises(Forbidden) as info:
        check_url("https://innocent.example.com/", resolve=resolver("93.184.215.14", "10.0.0.7"))
    assert info.value.details["address"] == "10.0.0.7"
    assert check_url("https://api.example.com/v1", resolve=resolver("93.184.215.14")) == [
        "93.184.215.14"
    ]


def test_allow_list_by_host_address_or_network() -> None:
    assert check_url(
        "http://gateway.internal/", allow=["gateway.internal"], resolve=resolver("10.1.1.1")
    )
    assert check_url("http://10.2.3.4/", allow=["10.0.0.0/8"])
    assert check_url("http://127.0.0.1:8080/", allow=["127.0.0.1"])
    with pytest.raises(Forbidden):
        check_url("http://10.2.3.4/", allow=["192.168.0.0/16", "not a network"])


@pytest.mark.parametrize(
    ("url", "field"),
    [("ftp://example.com/", "url"), ("http:///path", "url"), ("http://example.com:99999/", "url")],
)
def test_malformed_urls(url: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_url(url, resolve=resolver("93.184.215.14"))
    assert info.value.field == field


def test_unresolvable_host() -> None:
    with pytest.raises(InvalidInput):
        check_url("https://nowhere.example/", resolve=resolver())


def test_allow_list_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.config import Settings

    monkeypatch.setenv("ASSAY_OUTBOUND_ALLOW", "10.0.0.0/8, gateway.internal,")
    assert Settings().outbound_allow == ["10.0.0.0/8", "gateway.internal"]
