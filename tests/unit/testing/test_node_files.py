"""The real test node's files: containerd's TOML, the CNI network, the kubelet config and
CoreDNS's Corefile parse as their programs read them, and keep everything under the node's
own directory; the cluster DNS release named in Python is the one the build script builds."""

from __future__ import annotations

import io
import json
import tarfile
import tomllib
from pathlib import Path

import yaml

from leapfrog.testing._kube_files import make_cluster_files
from leapfrog.testing._node_dns import COREDNS_USER, COREDNS_VERSION, DNS_SERVICE_IP, dns_objects
from leapfrog.testing._node_files import (
    BRIDGE,
    HEALTHZ_PORT,
    HOST_PATHS,
    KUBELET_PORT,
    POD_GATEWAY,
    NodeLayout,
)
from leapfrog.testing._node_images import _layer, _write_archive


def test_every_file_stays_under_the_node_directory(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path / "node")
    layout.write(
        name="vm",
        kubelet=Path("/cache/kubelet"),
        kube_proxy=Path("/cache/kube-proxy"),
        coredns=Path("/cache/coredns"),
        api_port=40001,
        pause_image="localhost/pause:1",
    )
    containerd = tomllib.loads(layout.containerd_config.read_text())
    cri = containerd["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "localhost/pause:1"
    assert containerd["grpc"]["address"] == str(layout.socket)
    assert containerd["ttrpc"]["address"] == f"{layout.socket}.ttrpc"
    for path in (containerd["root"], containerd["state"], cri["cni"]["conf_dir"]):
        assert Path(path).is_relative_to(layout.root)
    network = json.loads(next(layout.cni_conf_dir.glob("*.conflist")).read_text())
    bridge = network["plugins"][0]
    assert bridge["bridge"] == BRIDGE and not bridge["ipMasq"] and bridge["isGateway"]
    assert Path(bridge["ipam"]["dataDir"]).is_relative_to(layout.root)
    kubelet = yaml.safe_load(layout.kubelet_config.read_text())
    assert kubelet["port"] == KUBELET_PORT and kubelet["address"] == "127.0.0.1"
    assert kubelet["protectKernelDefaults"] is True
    assert kubelet["makeIPTablesUtilChains"] is False
    assert kubelet["containerRuntimeEndpoint"] == f"unix://{layout.socket}"
    plan = json.loads(layout.plan.read_text())
    assert {target for _source, target in plan["binds"]} == {str(p) for p in HOST_PATHS}
    assert all(Path(source).is_relative_to(layout.root) for source, _target in plan["binds"])
    assert "--hostname-override=vm" in plan["kubelet"]["argv"]
    # The bridge plugin and kube-proxy enter the pods' network namespace, never the host's.
    wrapper = (Path(cri["cni"]["bin_dir"]) / "bridge").read_text()
    assert f'nsenter --net="{layout.netns}"' in wrapper
    assert plan["kube-proxy"]["argv"][:2] == ["nsenter", f"--net={layout.netns}"]
    proxy = yaml.safe_load(layout.kube_proxy_config.read_text())
    assert proxy["iptables"]["masqueradeAll"] is True
    assert proxy["hostnameOverride"] == "vm"
    # CoreDNS runs in the pods' namespace too, behind the address the kubelet gives pods.
    assert plan["coredns"]["argv"][:2] == ["nsenter", f"--net={layout.netns}"]
    assert plan["coredns"]["argv"][-2:] == ["-conf", str(layout.corefile)]
    assert plan["programs"] == ["kubelet", "kube-proxy", "coredns"]
    # The kubelet (its probes reach the pods' addresses only from there) and containerd
    # (whose streaming server the kubelet proxies to on 127.0.0.1) run there as well; the
    # network holder makes the bridge with the gateway (the kubelet's node IP) and
    # carries the host's kubelet ports, where the apiserver calls, into the namespace.
    for program in ("kubelet", "containerd"):
        assert plan[program]["argv"][:3] == ["nsenter", f"--net={layout.netns}", "--"]
    assert f"--node-ip={POD_GATEWAY}" in plan["kubelet"]["argv"]
    assert plan["network"]["argv"][-4:] == [
        BRIDGE,
        f"{POD_GATEWAY}/24",
        str(KUBELET_PORT),
        str(HEALTHZ_PORT),
    ]
    assert kubelet["clusterDNS"] == [DNS_SERVICE_IP]
    assert kubelet["clusterDomain"] == "cluster.local"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.88.77.0/24", "gateway": POD_GATEWAY}]]
    corefile = layout.corefile.read_text()
    assert f"kubeconfig {layout.coredns_kubeconfig} leapfrog-test" in corefile
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa {" in corefile


def test_kube_dns_points_at_the_gateway_for_the_coredns_user(tmp_path: Path) -> None:
    objects = {o["kind"]: o for o in yaml.safe_load_all(dns_objects(POD_GATEWAY))}
    assert objects["Service"]["spec"]["clusterIP"] == DNS_SERVICE_IP
    assert "selector" not in objects["Service"]["spec"]
    slice_ = objects["EndpointSlice"]
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns"
    assert slice_["endpoints"][0]["addresses"] == [POD_GATEWAY]
    service_ports = {(p["name"], p["protocol"]) for p in objects["Service"]["spec"]["ports"]}
    assert service_ports == {(p["name"], p["protocol"]) for p in slice_["ports"]}
    assert objects["ClusterRoleBinding"]["subjects"][0]["name"] == COREDNS_USER
    # The control plane has a token for that user only when a real node may join.
    assert COREDNS_USER in make_cluster_files(tmp_path / "with", ["vm"]).tokens
    assert COREDNS_USER not in make_cluster_files(tmp_path / "without").tokens


def test_the_coredns_release_is_the_one_the_wrapper_module_requires() -> None:
    go_mod = Path(__file__).parents[3] / "tools" / "coredns" / "go.mod"
    assert f"require github.com/coredns/coredns {COREDNS_VERSION}\n" in go_mod.read_text()


def test_images_are_docker_archives_with_the_same_bytes_every_build(tmp_path: Path) -> None:
    layer = _layer(b"\x7fELF-not-really", ["sh", "sleep", "busybox"])
    assert layer == _layer(b"\x7fELF-not-really", ["sleep", "sh"])
    archive = tmp_path / "image.tar"
    _write_archive(archive, "localhost/test:1", layer, ["sh"])
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        [entry] = manifest
        assert entry["RepoTags"] == ["localhost/test:1"]
        config = json.load(tar.extractfile(entry["Config"]))  # type: ignore[arg-type]
        stored = tar.extractfile(entry["Layers"][0])
        assert stored is not None and stored.read() == layer
    assert config["config"]["Cmd"] == ["sh"]
    with tarfile.open(fileobj=io.BytesIO(layer)) as root:
        members = {m.name: m for m in root.getmembers()}
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["tmp"].mode == 0o1777
    assert "nobody:x:65534" in root_file(layer, "etc/passwd")


def root_file(layer: bytes, name: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(layer)) as root:
        member = root.extractfile(name)
        assert member is not None
        return member.read().decode()
