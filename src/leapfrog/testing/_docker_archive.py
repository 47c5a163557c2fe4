"""A `docker save` archive (manifest.json, the image config, one uncompressed tar per
layer), written without a builder: what the test node's `ctr images import` reads. The
same inputs give the same bytes (fixed times and modes), so archives can be cached."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

__all__ = ["write_docker_archive"]


def write_docker_archive(
    path: Path,
    tag: str,
    layers: Sequence[bytes | Path],
    config: Mapping[str, object],
    created: str,
) -> None:
    """`layers` (bytes, or files holding them) under `tag`, with `config` as the image's
    `config` (Env, Cmd, User...); written beside `path` and moved into place whole."""
    import tarfile

    diff_ids = ["sha256:" + _sha256(layer) for layer in layers]
    body = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": dict(config),
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": created, "created_by": "leapfrog.testing"} for _ in layers],
        },
        sort_keys=True,
    ).encode()
    config_name = hashlib.sha256(body).hexdigest() + ".json"
    layer_names = [d.removeprefix("sha256:") + "/layer.tar" for d in diff_ids]
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [tag], "Layers": layer_names}]
    ).encode()
    partial = path.with_name(path.name + ".partial")
    with tarfile.open(partial, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("manifest.json", manifest), (config_name, body)):
            _member(tar, name, io.BytesIO(data), len(data))
        for name, layer in zip(layer_names, layers, strict=True):
            if isinstance(layer, bytes):
                _member(tar, name, io.BytesIO(layer), len(layer))
            else:
                with layer.open("rb") as handle:
                    _member(tar, name, handle, layer.stat().st_size)
    shutil.move(partial, path)


def _member(tar: tarfile.TarFile, name: str, data: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    tar.addfile(info, data)


def _sha256(layer: bytes | Path) -> str:
    if isinstance(layer, bytes):
        return hashlib.sha256(layer).hexdigest()
    sha = hashlib.sha256()
    with layer.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()
