"""Rendered objects as YAML: one multi-document stream, or one file per part."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from leapfrog.components.kube import Manifest
from leapfrog.runtime.kubernetes._render import Rendered, apply_rank

__all__ = ["to_yaml", "write_parts"]


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Scripts and config files read best as literal blocks.
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


def to_yaml(objects: list[Manifest]) -> str:
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def write_parts(rendered: Rendered, directory: Path) -> list[Path]:
    """`NN-<part>.yaml` per part, numbered so that `kubectl apply -f DIR` creates the
    namespace first; files of parts the stack no longer has are removed."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for old in directory.glob("*.yaml"):
        if old.name[:2].isdigit() and old.name[2:3] == "-":
            old.unlink()
    names = ["namespace", *(p for p in rendered.parts if p != "namespace")]
    for index, part in enumerate(names):
        objects = sorted(rendered.parts[part], key=apply_rank)
        path = directory / f"{index:02d}-{part}.yaml"
        # Generated passwords: readable by their owner only, from the first byte.
        mode = 0o600 if part == "secrets" else 0o644
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(to_yaml(objects))
        written.append(path)
    return written
