"""The example stack made renderable (images added), and small stacks for one point each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from leapfrog.spec import Stack, load_stack

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "leapfrog.yaml"


def example_data() -> dict[str, Any]:
    """examples/leapfrog.yaml with an image for every service and the load balancer on."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    for name, service in data["services"].items():
        service.setdefault("image", f"registry.example.com/{name}")
    data.setdefault("components", {}).setdefault("lb", {})
    # The stack is written elsewhere (a temp folder): its job files are named from here.
    for job in data["components"].get("flink", {}).get("jobs", {}).values():
        job["file"] = str(EXAMPLE.parent / job["file"])
    return data


def write_stack(directory: Path, data: dict[str, Any]) -> Path:
    path = directory / "leapfrog.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def load(directory: Path, data: dict[str, Any]) -> Stack:
    return load_stack(write_stack(directory, data))
