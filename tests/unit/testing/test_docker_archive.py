"""The `docker save` archives the test node imports: layers from bytes or files, the same
bytes for the same inputs."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from leapfrog.testing._docker_archive import write_docker_archive


def test_layers_from_bytes_and_files_are_named_by_their_digest(tmp_path: Path) -> None:
    on_disk = tmp_path / "layer.tar"
    on_disk.write_bytes(b"second layer")
    archive = tmp_path / "image.tar"
    write_docker_archive(archive, "localhost/x:1", [b"first layer", on_disk], {"Cmd": ["sh"]}, "T")
    with tarfile.open(archive) as tar:
        (manifest,) = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(tar.extractfile(manifest["Config"]).read())  # type: ignore[union-attr]
        digests = [hashlib.sha256(b).hexdigest() for b in (b"first layer", b"second layer")]
        assert manifest["RepoTags"] == ["localhost/x:1"]
        assert manifest["Layers"] == [f"{d}/layer.tar" for d in digests]
        assert tar.extractfile(manifest["Layers"][1]).read() == b"second layer"  # type: ignore[union-attr]
    assert config["rootfs"]["diff_ids"] == [f"sha256:{d}" for d in digests]
    assert config["config"] == {"Cmd": ["sh"]} and config["created"] == "T"
    assert not (tmp_path / "image.tar.partial").exists()


def test_the_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "a.tar", tmp_path / "b.tar"
    for path in (first, second):
        write_docker_archive(path, "t:1", [b"layer"], {"Env": ["PATH=/bin"]}, "T")
    assert first.read_bytes() == second.read_bytes()
