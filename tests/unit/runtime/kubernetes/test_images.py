"""leapfrog's image without building it: the recipe, its keys and tags, the record render
reads, the choice of builder and the commands given to it, the services' builds."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import pytest
from _kube_stacks import EXAMPLE, example_data, write_stack

from leapfrog.runtime.kubernetes import kube_context, render_stack
from leapfrog.runtime.kubernetes.images import _recipe, _record
from leapfrog.runtime.kubernetes.images._build import _prune, build_service_images
from leapfrog.runtime.kubernetes.images._builders import (
    Buildah,
    Builder,
    Docker,
    Podman,
    find_builder,
)
from leapfrog.shared.errors import LeapfrogError
from leapfrog.spec import load_stack
from leapfrog.testing import run_cli

RECIPE = _recipe.Recipe(version="0.1.0", lock=b"lock", project=b"project", source="abc")


def test_the_recipe_uses_no_registry_image_and_runs_as_a_numeric_non_root_user() -> None:
    lines = [line for line in _recipe.CONTAINERFILE.splitlines() if not line.startswith("#")]
    assert [line for line in lines if line.startswith("FROM")] == ["FROM scratch"]
    adds = [line for line in lines if line.startswith("ADD")]
    assert adds == ["ADD rootfs.tar /", "ADD deps.tar /", "ADD app.tar /"]  # least changed first
    assert f"USER {_recipe.UID}:{_recipe.UID}" in lines
    assert _recipe.UID >= 10000
    assert 'ENTRYPOINT ["leapfrog"]' in lines
    assert f"ENV PATH={_recipe.PREFIX}/bin:" in _recipe.CONTAINERFILE


def test_the_base_is_the_custom_variant_of_debian_packages_python_needs() -> None:
    argv = _recipe.mmdebstrap_argv(Path("/x/rootfs.tar"))
    assert argv[0] == "mmdebstrap" and "--variant=custom" in argv
    (include,) = [a for a in argv if a.startswith("--include=")]
    packages = include.removeprefix("--include=").split(",")
    assert "python3.11-minimal" in packages and "libpython3.11-stdlib" in packages
    assert not {"apt", "perl", "bash"} & set(packages)
    assert argv[-2:] == [_recipe.SUITE, "/x/rootfs.tar"]
    assert any(f"{_recipe.UID}:{_recipe.UID}" in a for a in argv)  # the user in /etc/passwd
    mirrored = _recipe.mmdebstrap_argv(Path("/x/r.tar"), "http://mirror.internal/debian")
    assert mirrored[-1] == "http://mirror.internal/debian"


def test_equal_inputs_give_equal_keys_and_each_input_changes_the_key() -> None:
    assert RECIPE.key == _recipe.Recipe("0.1.0", b"lock", b"project", "abc").key
    changed = [
        _recipe.Recipe("0.1.0", b"lock2", b"project", "abc"),
        _recipe.Recipe("0.1.0", b"lock", b"project2", "abc"),
        _recipe.Recipe("0.1.0", b"lock", b"project", "abd"),
    ]
    assert len({RECIPE.key, *(r.key for r in changed)}) == 4
    assert RECIPE.tag == f"0.1.0-{RECIPE.key[:12]}"
    assert len(RECIPE.key) == 64


def test_the_base_packages_change_both_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    before, image_before = _recipe.base_key(), RECIPE.key
    monkeypatch.setattr(_recipe, "BASE_PACKAGES", (*_recipe.BASE_PACKAGES, "tzdata"))
    assert _recipe.base_key() != before
    assert RECIPE.key != image_before


def test_the_source_digest_ignores_bytecode_and_sees_every_file(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.j2").write_text("{{ x }}")
    first = _recipe.source_digest(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\x00")
    assert _recipe.source_digest(tmp_path) == first
    (tmp_path / "sub" / "b.j2").write_text("{{ y }}")
    assert _recipe.source_digest(tmp_path) != first
    (tmp_path / "sub" / "b.j2").write_text("{{ x }}")
    (tmp_path / "sub" / "b.j2").rename(tmp_path / "sub" / "c.j2")
    assert _recipe.source_digest(tmp_path) != first


def test_reference_is_local_or_under_the_registry() -> None:
    assert _recipe.reference("0.1.0-abc") == "localhost/leapfrog/leapfrog:0.1.0-abc"
    assert _recipe.reference("0.1.0-abc", "reg.example:5000/") == (
        "reg.example:5000/leapfrog:0.1.0-abc"
    )


def test_render_names_the_image_the_build_will_make_until_one_is_built(tmp_path: Path) -> None:
    recipe = _record.current_recipe()
    local = f"localhost/leapfrog/leapfrog:{recipe.tag}"
    assert _record.leapfrog_image(tmp_path) == _record.LeapfrogImage(local, built=False)
    built = _record.Built(recipe.key, local, str(tmp_path / "a.tar"), 1, "buildah")
    _record.save_built(built, tmp_path)
    assert _record.leapfrog_image(tmp_path) == _record.LeapfrogImage(local, built=True)
    built.pushed = ["reg.example/leapfrog:" + recipe.tag]
    _record.save_built(built, tmp_path)
    assert _record.leapfrog_image(tmp_path).reference == "reg.example/leapfrog:" + recipe.tag
    other = _record.Built("0" * 64, "localhost/leapfrog/leapfrog:old", "b.tar", 1, "podman")
    _record.save_built(other, tmp_path)
    assert set(_record.load_built(tmp_path)) == {recipe.key, "0" * 64}


def test_a_broken_record_is_no_record(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "built.json").write_text("{not json")
    assert _record.load_built(tmp_path) == {}
    (tmp_path / "images" / "built.json").write_text(json.dumps({"k": {"unknown": 1}}))
    assert _record.load_built(tmp_path) == {}


def test_rendered_pods_run_the_built_image_and_kubernetes_images_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAPFROG_CACHE", str(tmp_path / "cache"))
    own = _record.leapfrog_image().reference
    stack = load_stack(write_stack(tmp_path, example_data()))
    assert kube_context(stack).image("leapfrog") == own
    text = json.dumps(render_stack(stack).objects)
    assert own in text and "ghcr.io" not in text
    data = example_data()
    data["kubernetes"] = {"images": {"leapfrog": "reg.example/mine:1"}}
    (tmp_path / "o").mkdir()
    text = json.dumps(render_stack(load_stack(write_stack(tmp_path / "o", data))).objects)
    assert "reg.example/mine:1" in text and own not in text


def test_render_says_how_to_build_the_image_it_names(tmp_path: Path) -> None:
    path = write_stack(tmp_path, example_data())
    env = {"LEAPFROG_CACHE": str(tmp_path / "cache")}
    result = run_cli("render", "-f", str(path), env=env)
    assert result.code == 0, result.stderr
    own = _record.leapfrog_image(tmp_path / "cache").reference
    assert f"image: {own}" in result.stdout
    assert "`leapfrog image build` builds it" in result.stderr
    recipe = _record.current_recipe()
    _record.save_built(_record.Built(recipe.key, own, "x.tar", 1, "buildah"), tmp_path / "cache")
    again = run_cli("render", "-f", str(path), env=env)
    assert again.code == 0 and "image build" not in again.stderr


def _which(found: set[str]) -> object:
    return lambda name: f"/usr/bin/{name}" if name in found else None


def test_buildah_comes_first_then_podman_then_a_docker_whose_daemon_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LEAPFROG_IMAGE_BUILDER", raising=False)
    assert isinstance(find_builder(_which({"buildah", "podman", "docker"})), Buildah)  # type: ignore[arg-type]
    assert isinstance(find_builder(_which({"podman", "docker"})), Podman)  # type: ignore[arg-type]
    monkeypatch.setattr(Docker, "usable", lambda self: False)
    with pytest.raises(LeapfrogError) as caught:
        find_builder(_which({"docker"}))  # type: ignore[arg-type]
    assert caught.value.hint == "buildah needs no daemon: apt-get install buildah"
    monkeypatch.setattr(Docker, "usable", lambda self: True)
    assert isinstance(find_builder(_which({"docker"})), Docker)  # type: ignore[arg-type]


def test_leapfrog_image_builder_picks_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAPFROG_IMAGE_BUILDER", "podman")
    assert isinstance(find_builder(_which({"buildah", "podman"})), Podman)  # type: ignore[arg-type]
    with pytest.raises(LeapfrogError) as caught:
        find_builder(_which({"buildah"}))  # type: ignore[arg-type]
    assert str(caught.value).startswith("podman not found")
    monkeypatch.setenv("LEAPFROG_IMAGE_BUILDER", "kaniko")
    with pytest.raises(LeapfrogError, match="not a builder leapfrog knows"):
        find_builder(_which({"buildah"}))  # type: ignore[arg-type]


def test_the_builders_commands() -> None:
    buildah = Buildah("/usr/bin/buildah")
    argv = buildah.build_argv(Path("C"), Path("ctx"), "t:1", {"B": "2", "A": "1"})
    assert argv[:4] == ["/usr/bin/buildah", "build", "--isolation", "chroot"]
    assert argv[-5:] == ["--build-arg", "A=1", "--build-arg", "B=2", "ctx"]
    assert buildah.save_argv("t:1", Path("/a/x.tar")) == [
        "/usr/bin/buildah", "push", "--quiet", "t:1", "docker-archive:/a/x.tar:t:1",
    ]  # fmt: skip
    assert buildah.push_argv("r/l:1", tls_verify=False) == [
        "/usr/bin/buildah", "push", "--tls-verify=false", "r/l:1",
    ]  # fmt: skip
    podman = Podman("podman")
    assert podman.save_argv("t:1", Path("x.tar"))[1:4] == ["save", "--format", "docker-archive"]
    assert podman.push_argv("r/l:1", tls_verify=True)[2] == "--tls-verify=true"
    docker = Docker("docker")
    assert docker.push_argv("r/l:1", tls_verify=False) == ["docker", "push", "r/l:1"]
    assert docker.build_argv(Path("C"), Path("."), "t", {})[:2] == ["docker", "build"]
    assert docker.load_argv(Path("x.tar")) == ["docker", "load", "-i", "x.tar"]


class _Recording(Builder):
    name = "recording"
    program = "true"
    install_hint = "-"

    def __init__(self) -> None:
        super().__init__("true")
        self.built: list[tuple[Path, Path, str, dict[str, str]]] = []
        self.saved: list[tuple[str, Path]] = []
        self.removed: list[str] = []

    def remove(self, tag: str) -> None:
        self.removed.append(tag)

    def build(
        self,
        containerfile: Path,
        context: Path,
        tag: str,
        args: Mapping[str, str],
        progress: object = None,
    ) -> None:
        self.built.append((containerfile, context, tag, dict(args)))

    def save(self, tag: str, archive: Path) -> None:
        archive.parent.mkdir(parents=True, exist_ok=True)
        archive.write_bytes(b"archive")
        self.saved.append((tag, archive))


def test_services_with_build_are_built_from_leapfrogs_image_as_render_names_them(
    tmp_path: Path,
) -> None:
    stack = load_stack(EXAMPLE)
    builder = _Recording()
    results = build_service_images(stack, builder, "localhost/leapfrog/leapfrog:t", print,
                                   cache=tmp_path)  # fmt: skip
    assert [r.part for r in results] == ["hello", "reader"]
    containerfile, context, tag, args = builder.built[0]
    assert containerfile == EXAMPLE.parent / "Containerfile"
    assert context == EXAMPLE.parent
    assert tag == "registry.example.com/example/hello:1.0.0"
    assert args == {"APP": "hello", "LEAPFROG_IMAGE": "localhost/leapfrog/leapfrog:t"}
    rendered = json.dumps(render_stack(stack).objects)
    assert all(f'"image": "{r.reference}"' in rendered for r in results)
    assert all(Path(r.archive).is_file() for r in results)


def test_a_service_to_build_needs_an_image_name(tmp_path: Path) -> None:
    data = example_data()
    data["services"]["hello"].pop("image")
    stack = load_stack(write_stack(tmp_path, data))
    with pytest.raises(LeapfrogError, match=r"services\.hello\.build"):
        build_service_images(stack, _Recording(), "l:t", print, cache=tmp_path)


def test_image_build_without_a_builder_says_what_to_install(tmp_path: Path) -> None:
    env = {"LEAPFROG_IMAGE_BUILDER": "buildah", "PATH": str(tmp_path), "HOME": str(tmp_path)}
    result = run_cli("image", "build", cwd=tmp_path, env=env)
    assert result.code == 1
    assert "buildah not found" in result.stderr and "apt-get install buildah" in result.stderr
    assert "Traceback" not in result.stderr


def test_only_the_newest_builds_and_the_current_layers_stay(tmp_path: Path) -> None:
    root = tmp_path / "images"
    for age, key in enumerate(["d" * 64, "c" * 64, "b" * 64, "a" * 64]):
        archive = root / key / "leapfrog.tar"
        archive.parent.mkdir(parents=True)
        archive.write_bytes(b"x")
        os.utime(archive, (1_000_000 - age, 1_000_000 - age))
        _record.save_built(
            _record.Built(key, f"localhost/leapfrog/leapfrog:{key[:4]}", str(archive), 1, "b"),
            tmp_path,
        )
    current = [f"base-{_recipe.base_key()[:16]}", f"deps-{_record.current_recipe().deps_key[:16]}"]
    for name in [*current, "base-0000000000000000", "deps-0000000000000000"]:
        (root / name).mkdir()
    builder = _Recording()
    _prune(builder, root, keep=3, cache=tmp_path)
    assert set(_record.load_built(tmp_path)) == {"d" * 64, "c" * 64, "b" * 64}
    assert builder.removed == ["localhost/leapfrog/leapfrog:aaaa"]
    assert not (root / ("a" * 64)).exists() and (root / ("b" * 64)).is_dir()
    assert sorted(p.name for p in root.glob("[bd]*-*")) == sorted(current)
