"""Test helpers shipped with leapfrog, for leapfrog's own tests and for teams testing stacks.

`StackDir` writes a stack file into a fresh directory every user can enter (services
may run as the unprivileged app user) and drives the real `leapfrog` command on it.
"""

from leapfrog.shared.ports import free_port
from leapfrog.testing._catalog import CatalogProcess
from leapfrog.testing._components import RunningComponent, run_component
from leapfrog.testing._consul_tools import consul_tool
from leapfrog.testing._kube import ControlPlane
from leapfrog.testing._node import RealNode, install_node_packages, node_name, real_node_unavailable
from leapfrog.testing._process import end_process
from leapfrog.testing._scratch import scratch_dir
from leapfrog.testing._stackdir import CliResult, StackDir, run_cli, sdk_service_user, wait_until
from leapfrog.testing._upstream_dns import UpstreamDns

__all__ = [
    "CatalogProcess",
    "CliResult",
    "ControlPlane",
    "RealNode",
    "RunningComponent",
    "StackDir",
    "UpstreamDns",
    "consul_tool",
    "end_process",
    "free_port",
    "install_node_packages",
    "node_name",
    "real_node_unavailable",
    "run_cli",
    "run_component",
    "scratch_dir",
    "sdk_service_user",
    "wait_until",
]
