"""Instances' networks: the contract (`base`), loopback addresses (`loopback`), a
network namespace each behind a default-deny firewall (`namespaces`, with `cni`,
`nftables` and `setns`), and the flows the stack file allows (`policy`)."""

from __future__ import annotations

from pathlib import Path

from leapfrog.runtime.local.network.base import (
    HOST,
    Attachment,
    NetworkError,
    NetworkProvider,
    Policy,
)
from leapfrog.runtime.local.network.loopback import LoopbackNetwork
from leapfrog.runtime.local.network.policy import Member, build_policy
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.spec import Stack

__all__ = [
    "HOST",
    "Attachment",
    "Member",
    "NetworkError",
    "NetworkProvider",
    "Policy",
    "build_policy",
    "network_for",
    "release_network",
]


def network_for(stack: Stack, paths: StatePaths) -> NetworkProvider:
    """The provider the stack file asks for, or loopback addresses with a note saying why
    namespaces cannot be made here."""
    spec = stack.spec
    if spec.network.isolation == "namespaces":
        # Namespaces (with CNI, nftables, setns) load only for a stack that asks for them:
        # everything `up` loads comes before its supervisor forks.
        from leapfrog.runtime.local.network import namespaces
        from leapfrog.runtime.local.network.namespaces import NamespaceNetwork

        why = namespaces.unavailable()
        if why is None:
            return NamespaceNetwork(paths.root, paths.addresses_file, spec.network.subnet)
        note = (
            f"network isolation is off: {why}; instances run on loopback addresses, and "
            "any of them can reach any other"
        )
        return LoopbackNetwork(paths.addresses_file, paths.root, spec.local.addresses, note)
    return LoopbackNetwork(paths.addresses_file, paths.root, spec.local.addresses)


def release_network(root: Path) -> list[str]:
    """Remove the namespaces, bridge and firewall tables the stack made (nothing when it
    ran on loopback addresses); what could not be removed, in words."""
    from leapfrog.runtime.local.network import namespaces

    return namespaces.release(root)
