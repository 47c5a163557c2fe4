"""The files a real test node starts from, all under its own directory: containerd's config
(CRI on cgroupfs and overlayfs, the local pause image, its own socket, root and state), the
CNI bridge network (its plugin run in the pods' own network namespace), the
KubeletConfiguration and KubeProxyConfiguration, CoreDNS's Corefile, and the plan the
namespace holder (leapfrog.testing._node_ns) follows."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from leapfrog.testing._kube_files import CONTEXT
from leapfrog.testing._node_dns import CLUSTER_DOMAIN, DNS_SERVICE_IP, corefile

__all__ = [
    "BRIDGE",
    "HEALTHZ_PORT",
    "HOST_PATHS",
    "KERNEL_SETTINGS",
    "KUBELET_PORT",
    "POD_GATEWAY",
    "POD_SUBNET",
    "REAL_NODE_LABEL",
    "REAL_NODE_TAINT",
    "NodeLayout",
]

# The kubelet serves exec/logs/port-forward here (127.0.0.1 only): one real node at a time.
KUBELET_PORT = 11250
HEALTHZ_PORT = 11248
BRIDGE = "lf-node0"
POD_SUBNET = "10.88.77.0/24"
# The bridge's address in the pods' network namespace: the pods' default gateway, and where
# CoreDNS (listening on every address of that namespace) is reached behind kube-dns.
POD_GATEWAY = "10.88.77.1"
# Where kube-proxy, in the pods' network namespace, finds the apiserver (leapfrog.testing.
# _node_net forwards it to the host's): that namespace has its own loopback.
PROXIED_API_PORT = 6443
CNI_PLUGINS = Path("/usr/lib/cni")
RUNC = Path("/usr/sbin/runc")
# Pods land on the real node only when they ask for it: the session's other tests keep
# scheduling to KWOK's fake nodes.
REAL_NODE_TAINT = "leapfrog.dev/real-node"
REAL_NODE_LABEL = "leapfrog.dev/real-node"
# What the kubelet insists the kernel has (it would write these sysctls, or with
# protectKernelDefaults refuse to start). The namespace holder shows it these values in the
# node's private mount namespace, so the host's own settings are never written.
KERNEL_SETTINGS = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}
# Paths containerd 1.6, the kubelet and libcni use whatever their configuration says:
# bind-mounted, in the private namespace only, from directories under the node's own.
HOST_PATHS = {
    Path("/run/containerd"): "run-containerd",
    Path("/var/lib/kubelet"): "var-lib-kubelet",
    Path("/var/log/containers"): "var-log-containers",
    Path("/var/lib/cni"): "var-lib-cni",
}

# The node directory's own subdirectories, made before anything is written.
_DIRECTORIES = ("run", "containerd", "kubelet", "kube-proxy", "coredns", "hostpaths", "sysctl")


@dataclass(frozen=True)
class NodeLayout:
    """Where everything of one real node lives, under `root`."""

    root: Path

    @property
    def socket(self) -> Path:
        return self.root / "run" / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd" / "config.toml"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet" / "config.yaml"

    @property
    def kubelet_kubeconfig(self) -> Path:
        return self.root / "kubelet" / "kubelet.kubeconfig"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet" / "root"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_bin_dir(self) -> Path:
        return self.root / "cni" / "bin"

    @property
    def netns(self) -> Path:
        """The pods' network namespace, bind-mounted here inside the private mount namespace."""
        return self.root / "run" / "pods.netns"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy" / "config.yaml"

    @property
    def kube_proxy_kubeconfig(self) -> Path:
        return self.root / "kube-proxy" / "kube-proxy.kubeconfig"

    @property
    def corefile(self) -> Path:
        return self.root / "coredns" / "Corefile"

    @property
    def coredns_kubeconfig(self) -> Path:
        return self.root / "coredns" / "coredns.kubeconfig"

    @property
    def plan(self) -> Path:
        return self.root / "namespace.json"

    @property
    def pids(self) -> Path:
        return self.root / "run" / "pids.json"

    def log(self, name: str) -> Path:
        return self.root / f"{name}.log"

    def write(
        self,
        *,
        name: str,
        kubelet: Path,
        kube_proxy: Path,
        coredns: Path,
        api_port: int,
        pause_image: str,
        containerd: str = "containerd",
    ) -> None:
        """Every config file, and the namespace holder's plan."""
        for directory in _DIRECTORIES:
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        self.cni_conf_dir.mkdir(parents=True, exist_ok=True)
        self._cni_plugins()
        self.containerd_config.write_text(self._containerd(pause_image))
        (self.cni_conf_dir / "10-leapfrog.conflist").write_text(self._cni())
        self.kubelet_config.write_text(self._kubelet())
        self.kube_proxy_config.write_text(self._kube_proxy(name))
        self.corefile.write_text(corefile(self.coredns_kubeconfig, CONTEXT))
        plan = {
            "kernel": KERNEL_SETTINGS,
            "sysctl_dir": str(self.root / "sysctl"),
            "binds": [
                [str(self.root / "hostpaths" / source), str(target)]
                for target, source in HOST_PATHS.items()
            ],
            "socket": str(self.socket),
            "pids": str(self.pids),
            "netns": str(self.netns),
            "network": {
                "argv": [
                    sys.executable,
                    "-m",
                    "leapfrog.testing._node_net",
                    str(api_port),
                    str(PROXIED_API_PORT),
                    str(self.root / "run" / "network.ready"),
                    BRIDGE,
                    f"{POD_GATEWAY}/{POD_SUBNET.rsplit('/', 1)[1]}",
                    str(KUBELET_PORT),
                    str(HEALTHZ_PORT),
                ],
                "log": str(self.log("network")),
                "ready": str(self.root / "run" / "network.ready"),
            },
            "kube-proxy": {
                "argv": [
                    "nsenter",
                    f"--net={self.netns}",
                    "--",
                    str(kube_proxy),
                    f"--config={self.kube_proxy_config}",
                    "--v=1",
                ],
                "log": str(self.log("kube-proxy")),
            },
            "coredns": {
                "argv": [
                    "nsenter",
                    f"--net={self.netns}",
                    "--",
                    str(coredns),
                    "-conf",
                    str(self.corefile),
                ],
                "log": str(self.log("coredns")),
            },
            # Started in this order once containerd answers.
            "programs": ["kubelet", "kube-proxy", "coredns"],
            # In the pods' network namespace with the kubelet: the kubelet proxies exec,
            # attach and port-forward to containerd's streaming server on 127.0.0.1.
            "containerd": {
                "argv": [
                    "nsenter",
                    f"--net={self.netns}",
                    "--",
                    containerd,
                    "--config",
                    str(self.containerd_config),
                ],
                "log": str(self.log("containerd")),
            },
            # In the pods' network namespace: its HTTP and TCP probes reach the pods'
            # addresses there (the host has no route to them); the apiserver reaches it
            # through the network holder's forwarders, it reaches the apiserver through
            # the forwarded 127.0.0.1:6443, and its node IP is the bridge's.
            "kubelet": {
                "argv": [
                    "nsenter",
                    f"--net={self.netns}",
                    "--",
                    str(kubelet),
                    f"--node-ip={POD_GATEWAY}",
                    f"--config={self.kubelet_config}",
                    f"--kubeconfig={self.kubelet_kubeconfig}",
                    f"--root-dir={self.kubelet_root}",
                    f"--cert-dir={self.root / 'kubelet' / 'pki'}",
                    f"--hostname-override={name}",
                    f"--node-labels={REAL_NODE_LABEL}=true",
                    "--v=1",
                ],
                "log": str(self.log("kubelet")),
            },
        }
        self.plan.write_text(json.dumps(plan, indent=2))

    def _containerd(self, pause_image: str) -> str:
        def q(value: object) -> str:  # a TOML basic string (JSON's escaping is TOML's)
            return json.dumps(str(value))

        cri = '[plugins."io.containerd.grpc.v1.cri"'
        return f"""version = 2
root = {q(self.root / "containerd" / "root")}
state = {q(self.root / "containerd" / "state")}

[grpc]
  address = {q(self.socket)}

[ttrpc]
  address = {q(f"{self.socket}.ttrpc")}

[debug]
  level = "info"

[metrics]
  address = ""

[plugins]
  {cri}]
    sandbox_image = {q(pause_image)}
    disable_apparmor = true
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    {cri}.containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      {cri}.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        {cri}.containerd.runtimes.runc.options]
          SystemdCgroup = false
          BinaryName = {q(RUNC)}
    {cri}.cni]
      bin_dir = {q(self.cni_bin_dir)}
      conf_dir = {q(self.cni_conf_dir)}
  [plugins."io.containerd.internal.v1.opt"]
    path = {q(self.root / "containerd" / "opt")}
"""

    def _cni_plugins(self) -> None:
        """Debian's CNI plugins, but the bridge plugin runs in the pods' network namespace:
        the bridge, the pods' host-side interfaces and the gateway address live there."""
        self.cni_bin_dir.mkdir(parents=True, exist_ok=True)
        for plugin in CNI_PLUGINS.iterdir():
            link = self.cni_bin_dir / plugin.name
            if plugin.name != "bridge" and not link.exists():
                link.symlink_to(plugin)
        wrapper = self.cni_bin_dir / "bridge"
        wrapper.write_text(
            f'#!/bin/sh\nexec nsenter --net="{self.netns}" -- "{CNI_PLUGINS / "bridge"}" "$@"\n'
        )
        wrapper.chmod(0o755)

    def _cni(self) -> str:
        """A bridge with host-local addresses, in the pods' network namespace. Its address
        is the pods' gateway, where kube-proxy's rules (same namespace) catch Service
        addresses; no masquerading to the outside, so nothing touches the host's network."""
        bridge = {
            "type": "bridge",
            "bridge": BRIDGE,
            "isGateway": True,
            "isDefaultGateway": True,
            "ipMasq": False,
            "hairpinMode": False,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": POD_SUBNET, "gateway": POD_GATEWAY}]],
                "dataDir": str(self.root / "cni" / "ipam"),
            },
        }
        return json.dumps({"cniVersion": "0.4.0", "name": "leapfrog", "plugins": [bridge]})

    def _kubelet(self) -> str:
        endpoint = f"unix://{self.socket}"
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "127.0.0.1",
            "port": KUBELET_PORT,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": HEALTHZ_PORT,
            "cgroupDriver": "cgroupfs",
            # This machine mounts cgroup v1, which kubelet 1.35+ refuses unless told.
            "failCgroupV1": False,
            "failSwapOn": False,
            "containerRuntimeEndpoint": endpoint,
            "imageServiceEndpoint": endpoint,
            "staticPodPath": "",
            "podLogsDir": str(self.root / "kubelet" / "pod-logs"),
            "volumePluginDir": str(self.root / "kubelet" / "volume-plugins"),
            # No netfilter rules on the host.
            "makeIPTablesUtilChains": False,
            # Refuse, rather than write, kernel settings (see KERNEL_SETTINGS).
            "protectKernelDefaults": True,
            # The apiserver reaches the kubelet on 127.0.0.1 with no client certificate.
            "authentication": {
                "anonymous": {"enabled": True},
                "webhook": {"enabled": False},
                "x509": {},
            },
            "authorization": {"mode": "AlwaysAllow"},
            "registerNode": True,
            "registerWithTaints": [
                {"key": REAL_NODE_TAINT, "value": "true", "effect": "NoSchedule"}
            ],
            "serializeImagePulls": False,
            "resolvConf": "",
            # Pods ask the kube-dns Service (CoreDNS, see leapfrog.testing._node_dns).
            "clusterDNS": [DNS_SERVICE_IP],
            "clusterDomain": CLUSTER_DOMAIN,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
            },
            # The test images cannot be pulled again: never collect them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "maxPods": 30,
            "syncFrequency": "10s",
            "nodeStatusReportFrequency": "10s",
        }
        return yaml.safe_dump(config, sort_keys=False)

    def _kube_proxy(self, name: str) -> str:
        """iptables mode in the pods' namespace. Every Service connection is masqueraded to
        the gateway address, so replies come back through the rules without br_netfilter; no
        conntrack or localhost sysctls are set (some are not per namespace)."""
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.kube_proxy_kubeconfig)},
            "hostnameOverride": name,
            "mode": "iptables",
            "clusterCIDR": POD_SUBNET,
            "bindAddress": "127.0.0.1",
            "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249",
            "iptables": {
                "masqueradeAll": True,
                "localhostNodePorts": False,
                "syncPeriod": "30s",
                "minSyncPeriod": "0s",
            },
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
        }
        return yaml.safe_dump(config, sort_keys=False)
