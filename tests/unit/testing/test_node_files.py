"""The real test node's files: containerd's TOML, the CNI network and the kubelet config
parse as their programs read them, and keep everything under the node's own directory."""

from __future__ import annotations

import io
import json
import tarfile
import tomllib
from pathlib import Path

import yaml

from leapfrog.testing._node_files import BRIDGE, HOST_PATHS, KUBELET_PORT, NodeLayout
from leapfrog.testing._node_images import _layer, _write_archive


def test_every_file_stays_under_the_node_directory(tmp_path: Path) -> None:
    layout = NodeLayout(tmp_path / "node")
    layout.write(
        name="vm",
        kubelet=Path("/cache/kubelet"),
        kube_proxy=Path("/cache/kube-proxy"),
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
