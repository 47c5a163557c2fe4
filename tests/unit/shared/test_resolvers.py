from __future__ import annotations

from pathlib import Path

import pytest

from leapfrog.shared.resolvers import host_nameservers, split_dns_server


def test_nameservers_in_order_skipping_what_is_not_an_address(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# generated\nsearch example.test\nnameserver 10.255.255.53\n"
        "nameserver fe80::1%eth0\nnameserver resolver.example\n  nameserver\n"
        "options edns0\nnameserver 127.0.0.53\n"
    )
    assert host_nameservers(conf) == ["10.255.255.53", "fe80::1", "127.0.0.53"]


def test_no_resolv_conf_no_nameservers(tmp_path: Path) -> None:
    assert host_nameservers(tmp_path / "missing") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.2", ("10.0.0.2", 53)),
        ("10.0.0.2:5353", ("10.0.0.2", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
    ],
)
def test_dns_server_addresses(text: str, expected: tuple[str, int]) -> None:
    assert split_dns_server(text) == expected


@pytest.mark.parametrize("text", ["dns.example", "10.0.0.2:0", "10.0.0.2:x", "[::1]x", "", "1:٣"])
def test_bad_dns_server_addresses_say_what_to_give(text: str) -> None:
    with pytest.raises(ValueError, match="expected an IP address"):
        split_dns_server(text)
