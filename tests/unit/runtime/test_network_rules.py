"""The firewall's rules from the stack file: who may reach whom (policy) and the nft
script that enforces it (no nft needed: the script is text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leapfrog.runtime.local.network import Member, build_policy, namespaces, network_for
from leapfrog.runtime.local.network.base import Flow, HostFlow, Policy
from leapfrog.runtime.local.network.loopback import LoopbackNetwork
from leapfrog.runtime.local.network.nftables import Names, render, render_inside
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.spec import ServiceSpec, parse_stack

NAMES = Names(table="leapfrog_ab12", bridge="lfab12", subnet="10.9.0.0/24", gateway="10.9.0.1")


def services(**callers: list[str] | None) -> dict[str, ServiceSpec]:
    return {
        name: ServiceSpec(command=["x"], port=9000, callers=given)
        for name, given in callers.items()
    }


def member(name: str, address: str, *, kind: str = "service", isolated: bool = True) -> Member:
    unit = name.rsplit("-", 1)[0]
    return Member(name, unit, kind, address, 9000, isolated)


def test_only_declared_callers_reach_a_service_on_its_port() -> None:
    policy = build_policy(
        services(api=["web"], web=None, other=None),
        [member("api-1", "10.9.0.2"), member("web-1", "10.9.0.3"), member("other-1", "10.9.0.4")],
        None,
    )
    assert policy.flows == (Flow("10.9.0.3", "10.9.0.2", 9000, "web -> api"),)
    assert policy.to_host == ()


def test_every_replica_of_a_caller_reaches_every_replica() -> None:
    policy = build_policy(
        services(api=["web"], web=None),
        [
            member("api-1", "10.9.0.2"),
            member("api-2", "10.9.0.3"),
            member("web-1", "10.9.0.4"),
            member("web-2", "10.9.0.5"),
        ],
        None,
    )
    pairs = {(f.source, f.target) for f in policy.flows}
    assert pairs == {(s, t) for s in ("10.9.0.4", "10.9.0.5") for t in ("10.9.0.2", "10.9.0.3")}


def test_services_use_the_platform_parts_which_use_each_other_but_not_services() -> None:
    policy = build_policy(
        services(web=None),
        [
            member("web-1", "10.9.0.2"),
            member("kafka-1", "10.9.0.3", kind="component"),
            member("zookeeper-1", "10.9.0.4", kind="component"),
        ],
        ("127.0.0.1:8500", "127.0.0.1:8600"),
    )
    pairs = {(f.source, f.target, f.port) for f in policy.flows}
    assert pairs == {
        ("10.9.0.2", "10.9.0.3", None),
        ("10.9.0.2", "10.9.0.4", None),
        ("10.9.0.3", "10.9.0.4", None),
        ("10.9.0.4", "10.9.0.3", None),
    }
    # The catalog: services only, its HTTP API and its DNS (UDP and TCP).
    assert {(h.source, h.host, h.port, h.protocol) for h in policy.to_host} == {
        ("10.9.0.2", "127.0.0.1", 8500, "tcp"),
        ("10.9.0.2", "127.0.0.1", 8600, "udp"),
        ("10.9.0.2", "127.0.0.1", 8600, "tcp"),
    }


def test_programs_in_the_host_network_are_no_part_of_the_policy() -> None:
    policy = build_policy(
        services(web=None),
        [
            member("web-1", "10.9.0.2"),
            member("lb-1", "127.0.0.1", kind="component", isolated=False),
        ],
        None,
    )
    assert policy.flows == ()


def test_script_replaces_both_tables_and_ends_in_default_deny() -> None:
    policy = Policy(
        flows=(Flow("10.9.0.3", "10.9.0.2", 9000, "web -> api"),),
        to_host=(HostFlow("10.9.0.3", "127.0.0.1", 8500, "tcp", "web -> catalog"),),
    )
    script = render(policy, NAMES).splitlines()
    # Idempotent and atomic in one nft -f run: make, delete, define.
    assert script[:3] == [
        "table bridge leapfrog_ab12",
        "delete table bridge leapfrog_ab12",
        "table bridge leapfrog_ab12 {",
    ]
    bridge = script[: script.index("}") + 1]
    rules = [line.strip() for line in bridge if line.startswith("    ") and "hook" not in line]
    assert rules == [
        'ip saddr 10.9.0.3 ip daddr 10.9.0.2 tcp dport 9000 accept comment "web -> api"',
        "ip saddr 10.9.0.2 ip daddr 10.9.0.3 tcp sport 9000 tcp flags & (syn | ack) != syn "
        'accept comment "web -> api"',
        "ip saddr 10.9.0.0/24 ip daddr 10.9.0.0/24 drop",
    ]
    text = "\n".join(script)
    assert 'iifname "lfab12" ip daddr 10.9.0.1 tcp dport 8500 dnat to 127.0.0.1:8500' in text
    host = [line.strip() for line in script if line.strip().startswith('iifname "lfab12"')]
    assert host[-4:] == [
        'iifname "lfab12" ip saddr 10.9.0.3 ip daddr 127.0.0.1 tcp dport 8500 ct status dnat '
        'accept comment "web -> catalog"',
        'iifname "lfab12" udp dport 53 reject',
        'iifname "lfab12" meta l4proto tcp reject with tcp reset',
        'iifname "lfab12" drop',
    ]


def test_an_empty_policy_still_denies_everything_between_instances() -> None:
    text = render(Policy(), NAMES)
    assert "accept comment" not in text
    assert "ip saddr 10.9.0.0/24 ip daddr 10.9.0.0/24 drop" in text
    assert 'iifname "lfab12" ct state established,related accept' in text


def test_a_flow_to_any_port_lets_answers_back_but_no_new_connection() -> None:
    text = render(Policy(flows=(Flow("10.9.0.2", "10.9.0.3", None, "web -> kafka"),)), NAMES)
    assert "ip saddr 10.9.0.2 ip daddr 10.9.0.3 accept" in text
    assert "ip saddr 10.9.0.3 ip daddr 10.9.0.2 tcp flags & (syn | ack) != syn accept" in text


def test_comments_cannot_break_out_of_their_quotes() -> None:
    text = render(Policy(flows=(Flow("10.9.0.2", "10.9.0.3", 1, 'a" drop; "b'),)), NAMES)
    assert 'comment "a drop b"' in text


def test_namespaces_unavailable_means_loopback_and_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(namespaces, "unavailable", lambda: "network namespaces need root")
    stack = parse_stack(
        "network: {isolation: namespaces}\nservices: {web: {command: x}}\n",
        "leapfrog.yaml",
        tmp_path,
    )
    provider = network_for(stack, StatePaths(tmp_path / ".leapfrog"))
    assert isinstance(provider, LoopbackNetwork)
    assert provider.note is not None and "need root" in provider.note
    assert "loopback addresses" in provider.note


def test_loopback_by_default_says_nothing(tmp_path: Path) -> None:
    stack = parse_stack("services: {web: {command: x}}\n", "leapfrog.yaml", tmp_path)
    provider = network_for(stack, StatePaths(tmp_path / ".leapfrog"))
    assert provider.kind == "loopback" and provider.note is None
    assert provider.host_endpoint("127.0.0.1:8500") == "127.0.0.1:8500"


def test_dns_queries_of_isolated_services_to_any_resolver_go_to_the_catalog() -> None:
    policy = build_policy(
        services(web=None),
        [member("web-1", "10.9.0.2"), member("kafka-1", "10.9.0.3", kind="component")],
        ("127.0.0.1:8500", "127.0.0.1:8600"),
    )
    assert policy.resolver == (
        HostFlow("10.9.0.2", "127.0.0.1", 8600, "tcp", "web -> catalog"),
        HostFlow("10.9.0.2", "127.0.0.1", 8600, "udp", "web -> catalog"),
    )
    text = render(policy, NAMES)
    for proto in ("udp", "tcp"):
        # Translated whatever the address (not only the bridge's), then let in.
        assert (
            f'iifname "lfab12" ip saddr 10.9.0.2 {proto} dport 53 dnat to 127.0.0.1:8600 '
            'comment "web -> catalog DNS"'
        ) in text
        assert (
            f'iifname "lfab12" ip saddr 10.9.0.2 ip daddr 127.0.0.1 {proto} dport 8600 '
            'ct status dnat accept comment "web -> catalog"'
        ) in text
    assert "10.9.0.3 udp dport 53" not in text  # platform parts do not use the catalog


def test_no_catalog_no_dns_translation() -> None:
    policy = build_policy(services(web=None), [member("web-1", "10.9.0.2")], None)
    assert policy.resolver == ()
    assert "dport 53 dnat" not in render(policy, NAMES)
    # Refused at once instead of timing out.
    assert 'iifname "lfab12" udp dport 53 reject' in render(policy, NAMES)


def test_inside_a_namespace_loopback_dns_goes_to_the_bridge_and_loopback_stays_closed() -> None:
    script = render_inside("10.9.0.1", "eth0")
    assert script.startswith("table ip leapfrog_dns\ndelete table ip leapfrog_dns\n")
    rules = [line.strip() for line in script.splitlines() if line.startswith("    ")]
    assert "ip daddr 127.0.0.0/8 udp dport 53 dnat to 10.9.0.1:53" in rules
    assert "ip daddr 127.0.0.0/8 tcp dport 53 dnat to 10.9.0.1:53" in rules
    assert 'oifname "eth0" ip saddr 127.0.0.0/8 masquerade' in rules
    # route_localnet lets 127/8 in on eth0: only answers to what went out may come in.
    assert 'iifname "eth0" ip daddr 127.0.0.0/8 ct direction original drop' in rules
    assert 'iifname "eth0" ip saddr 127.0.0.0/8 ct direction original drop' in rules
