"""A real control plane for the Kubernetes tier, started once per session.

scripts/kube-tools.sh builds the binaries when they are missing (a no-op when cached), so
`.venv/bin/pytest tests/kubernetes` works alone on a fresh machine too. It runs after
collection rather than in the fixture, so a cold build is not cut short by a test timeout."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from leapfrog.testing import ControlPlane

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(HERE in item.path.parents for item in session.items):
        subprocess.run([ROOT / "scripts" / "kube-tools.sh"], check=True)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(tmp_path_factory.mktemp("kube")) as plane:
        yield plane
