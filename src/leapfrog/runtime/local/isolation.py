"""The stack's firewall, from its launches: built and enforced at `up` and at each
apply of a changed stack file (live, nothing restarts), removed at `down`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from leapfrog.runtime.local.launch import Launch
from leapfrog.runtime.local.network import (
    Member,
    NetworkError,
    Policy,
    build_policy,
    network_for,
    release_network,
)
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.shared.errors import LeapfrogError
from leapfrog.spec import Stack

__all__ = ["enforce_network", "policy_of", "release"]


def policy_of(stack: Stack, launches: Mapping[str, Sequence[Launch]]) -> Policy:
    members = [
        Member(
            name=one.name,
            unit=one.unit,
            kind=one.kind,
            address=one.address,
            port=one.port,
            isolated=one.network.netns is not None,
        )
        for group in launches.values()
        for one in group
    ]
    settings = stack.spec.catalog
    catalog = (settings.http, settings.dns) if settings.enabled else None
    return build_policy(stack.spec.services, members, catalog)


def enforce_network(
    stack: Stack, launches: Mapping[str, Sequence[Launch]], paths: StatePaths
) -> list[str]:
    """Let through what the stack file allows; notes for the user (isolation asked for
    but unavailable here)."""
    provider = network_for(stack, paths)
    try:
        provider.enforce(policy_of(stack, launches))
    except NetworkError as exc:
        raise LeapfrogError(
            f"cannot set up the stack's firewall: {exc}",
            hint="check that nftables works here (`nft list ruleset`), or set "
            "`network: {isolation: loopback}`",
        ) from None
    return [provider.note] if provider.note else []


def release(paths: StatePaths) -> None:
    """Remove the namespaces, bridge and tables the stack made."""
    left = release_network(paths.root)
    if left:
        raise LeapfrogError(
            "the stack is down, but some of its network stays: " + "; ".join(left),
            hint="`leapfrog down` again removes what is left",
        )
