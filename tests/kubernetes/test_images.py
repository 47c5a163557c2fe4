"""leapfrog's image built for real (buildah, mmdebstrap, uv; cached after the first time)
and run: as its numeric non-root user, `leapfrog --version` and `leapfrog lb run --help`
inside it; the docker-archive a node imports; the example's service images FROM it;
`render` naming the very tag that was built."""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leapfrog.runtime.kubernetes.images import _recipe
from leapfrog.testing import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "leapfrog.yaml"
MAX_SIZE = 360 * 1024**2
"""The layers, uncompressed: measured 191 MiB (57 MiB Debian base, 128 MiB dependencies,
6 MiB leapfrog)."""


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    """`leapfrog image build --json` of the example: leapfrog's image, hello's, reader's."""
    result = run_cli("image", "build", "-f", str(EXAMPLE), "--json", timeout=1100)
    assert result.code == 0, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def _image(built: dict[str, Any], part: str) -> dict[str, Any]:
    (found,) = [i for i in built["images"] if i["part"] == part]
    return found


@pytest.fixture
def container(built: dict[str, Any]) -> Iterator[Any]:
    """A buildah working container of an image, removed after the test."""
    made: list[str] = []

    def start(reference: str) -> str:
        name = subprocess.run(
            ["buildah", "from", "--pull-never", reference],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        made.append(name)
        return name

    yield start
    for name in made:
        subprocess.run(["buildah", "rm", name], capture_output=True, check=False)


def _run(name: str, *argv: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """`buildah run` with chroot isolation (no OCI runtime needed; crun refuses this
    host's cgroup v1), as the image's own USER unless `user` is given."""
    command = ["buildah", "run", "--isolation", "chroot"]
    if user:
        command += ["--user", user]
    return subprocess.run(
        [*command, name, "--", *argv], capture_output=True, text=True, check=False, timeout=120
    )


def test_leapfrog_runs_inside_as_its_non_root_user(built: dict[str, Any], container: Any) -> None:
    own = _image(built, "leapfrog")
    assert own["reference"].startswith("localhost/leapfrog/leapfrog:0.1.0-")
    name = container(own["reference"])
    version = _run(name, "leapfrog", "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == "leapfrog, version 0.1.0"
    ids = _run(name, "sh", "-c", "id -u; id -g")
    assert ids.stdout.split() == [str(_recipe.UID), str(_recipe.UID)], ids.stderr
    lb = _run(name, "leapfrog", "lb", "run", "--help")
    assert lb.returncode == 0 and "Usage: leapfrog lb run" in lb.stdout, lb.stderr
    # The root file system is the image's: no write outside /tmp for the user. Told
    # by exit codes: buildah's chroot run lost the inner output (stderr, then stdout
    # too) with three test sessions loading the machine.
    denied = _run(name, "sh", "-c", "touch /opt/leapfrog/x")
    assert denied.returncode != 0, denied
    assert _run(name, "test", "-e", "/opt/leapfrog/x").returncode == 1
    assert _run(name, "test", "-w", "/opt/leapfrog").returncode == 1  # not the user's
    # What the other containers run: the template renderer, the pipelines, the operator.
    for argv in (["template", "--help"], ["pipeline", "logs", "--help"],
                 ["backup", "operator", "--help"], ["console", "serve", "--help"]):  # fmt: skip
        done = _run(name, "leapfrog", *argv)
        assert done.returncode == 0, (argv, done.stderr)


def test_the_image_is_small_and_says_how_it_runs(built: dict[str, Any]) -> None:
    own = _image(built, "leapfrog")
    assert 0 < own["size"] < MAX_SIZE
    inspected = subprocess.run(
        ["buildah", "inspect", "--type", "image", own["reference"]],
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(inspected.stdout)["Docker"]["config"]
    assert config["User"] == f"{_recipe.UID}:{_recipe.UID}"
    assert config["Entrypoint"] == ["leapfrog"]


def test_the_archive_is_a_docker_archive_a_node_imports(built: dict[str, Any]) -> None:
    own = _image(built, "leapfrog")
    with tarfile.open(own["archive"]) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        (manifest,) = json.load(member)
    assert manifest["RepoTags"] == [own["reference"]]
    assert len(manifest["Layers"]) == 3  # the Debian base, the dependencies, leapfrog


def test_a_second_build_comes_from_the_cache(built: dict[str, Any], tmp_path: Path) -> None:
    again = run_cli("image", "build", "--json", cwd=tmp_path, timeout=300)  # no stack here
    assert again.code == 0, again.stderr
    (own,) = json.loads(again.stdout)["images"]
    assert own["cached"] is True
    assert own["reference"] == _image(built, "leapfrog")["reference"]


def test_the_example_services_run_from_leapfrogs_image(
    built: dict[str, Any], container: Any
) -> None:
    for part in ("hello", "reader"):
        image = _image(built, part)
        assert image["reference"] == f"registry.example.com/example/{part}:1.0.0"
        name = container(image["reference"])
        # What the rendered Deployment runs: `python3 <app>/app.py` in /srv as user 10001.
        probe = (
            "import os; assert os.getuid() == 10001 and os.getcwd() == '/srv'; "
            "import leapfrog.service, confluent_kafka, psycopg; "
            f"print(os.path.isfile('{part}/app.py'))"
        )
        done = _run(name, "python3", "-c", probe, user="10001:10001")
        assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr


def test_render_refers_to_the_built_image(built: dict[str, Any]) -> None:
    result = run_cli("render", "-f", str(EXAMPLE))
    assert result.code == 0, result.stderr
    own = _image(built, "leapfrog")["reference"]
    assert f"image: {own}" in result.stdout
    assert "image build" not in result.stderr  # no hint: it is built
    for part in ("hello", "reader"):
        assert f"image: {_image(built, part)['reference']}" in result.stdout
