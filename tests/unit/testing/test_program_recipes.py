"""The test node's program images without building them: each recipe honours what the
render gives that part's containers (the commands, the users), the keys follow the
inputs, and the launchers pass on what the official scripts read."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from leapfrog.components.kube import DEFAULT_IMAGES
from leapfrog.runtime.kubernetes import render_stack
from leapfrog.spec import load_stack
from leapfrog.testing import _program_images
from leapfrog.testing._program_recipes import (
    RECIPES,
    REPOSITORY,
    ProgramRecipe,
    Script,
    with_users,
)
from tests.unit.runtime.kubernetes._kube_stacks import example_data, write_stack


def rendered_containers(tmp_path: Path) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(part, container, pod spec) of every container of the example stack's render
    whose image is a part's official image."""
    stack = load_stack(write_stack(tmp_path, example_data()))
    official = {}
    for part in RECIPES:
        pattern = re.escape(DEFAULT_IMAGES[part]).replace(re.escape("{version}"), "[^:]+")
        official[part] = re.compile(f"^{pattern}$")
    found = []
    for obj in render_stack(stack).objects:
        if obj["kind"] not in ("Deployment", "StatefulSet", "Job"):
            continue
        pod = obj["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            for part, pattern in official.items():
                if pattern.match(container["image"]):
                    found.append((part, container, pod))
    return found


def test_every_recipe_stands_in_for_a_part_the_example_renders(tmp_path: Path) -> None:
    parts = {part for part, _, _ in rendered_containers(tmp_path)}
    assert parts == set(RECIPES)


def test_each_image_has_a_passwd_entry_for_the_user_its_pods_run_as(tmp_path: Path) -> None:
    for part, container, pod in rendered_containers(tmp_path):
        security = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
        uids = {uid for _, uid, _ in RECIPES[part].users}
        assert security["runAsUser"] in uids, (part, container["name"], security)


def test_each_rendered_command_is_in_the_image(tmp_path: Path) -> None:
    """The programs the rendered containers start by path are the image's launchers;
    a bare name is a launcher, on the image's PATH from a package, or the shell."""
    from_packages = {"postgres": {"postgres", "pg_isready", "psql"}, "haproxy": {"sh"}}
    for part, container, _ in rendered_containers(tmp_path):
        recipe = RECIPES[part]
        scripts = set(recipe.scripts) | set(recipe.binaries)
        # As the runtime makes it: the command, else the image's entrypoint; the args,
        # else (with no command given) the image's cmd.
        command = container.get("command") or list(recipe.entrypoint)
        args = container.get("args") or ([] if "command" in container else list(recipe.cmd))
        argv = [*command, *args]
        text = " ".join(argv)
        for path in re.findall(r"/opt/\S+?\.sh\b", text):
            assert path in scripts, (part, container["name"], path)
        program = argv[0]
        names = {Path(s).name for s in scripts} | from_packages.get(part, set()) | {"sh"}
        assert program in scripts or program in names, (part, container["name"], program)


def test_the_kafka_launchers_name_classes_of_the_jars_leapfrog_runs() -> None:
    kafka = RECIPES["kafka"]
    mains = {
        p: re.search(r"@/opt/kafka/classpath.args (\S+)", s.text) for p, s in kafka.scripts.items()
    }
    assert all(mains.values()), mains
    assert mains["/opt/kafka/bin/kafka-server-start.sh"].group(1) == "kafka.Kafka"  # type: ignore[union-attr]


def test_the_key_follows_the_recipe_and_its_inputs() -> None:
    recipe = RECIPES["kafka"]
    key = recipe.key({"/opt/kafka/libs/a.jar": "a.jar"})
    assert key == recipe.key({"/opt/kafka/libs/a.jar": "a.jar"})
    assert key != recipe.key({"/opt/kafka/libs/a.jar": "a-2.jar"})
    changed = ProgramRecipe(**{**recipe.__dict__, "packages": (*recipe.packages, "gzip")})
    assert changed.key({"/opt/kafka/libs/a.jar": "a.jar"}) != key
    assert recipe.reference(key) == f"{REPOSITORY}/kafka:{key[:12]}"
    assert recipe.reference(key).startswith("localhost/")


def run_script(script: Script, tmp_path: Path, *args: str, **env: str) -> list[str]:
    """The launcher run with a `java` that prints its arguments, one a line."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    java = bin_dir / "java"
    java.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    java.chmod(0o755)
    launcher = tmp_path / "launcher"
    launcher.write_text(script.text)
    launcher.chmod(0o755)
    done = subprocess.run(
        [str(launcher), *args],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_kafka_s_launcher_passes_the_variables_the_render_sets(tmp_path: Path) -> None:
    script = RECIPES["kafka"].scripts["/opt/kafka/bin/kafka-server-start.sh"]
    argv = run_script(
        script, tmp_path, "/etc/leapfrog/kafka/server.properties",
        KAFKA_HEAP_OPTS="-Xmx512m -Xms512m",
        KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=/etc/leapfrog/kafka/log4j2.properties",
    )  # fmt: skip
    assert argv == [
        "-Xmx512m",
        "-Xms512m",
        "-Dlog4j2.configurationFile=/etc/leapfrog/kafka/log4j2.properties",
        "@/opt/kafka/classpath.args",
        "kafka.Kafka",
        "/etc/leapfrog/kafka/server.properties",
    ]


def test_zookeeper_s_launcher_reads_the_config_folder_and_jvmflags(tmp_path: Path) -> None:
    script = RECIPES["zookeeper"].scripts["/usr/local/bin/zkServer.sh"]
    argv = run_script(
        script, tmp_path, "start-foreground", ZOOCFGDIR="/conf", JVMFLAGS="-Xmx256m",
        ZOO_LOG_DIR="/logs",
    )  # fmt: skip
    assert "-Dzookeeper.log.dir=/logs" in argv
    assert "-Dlogback.configurationFile=/conf/logback.xml" in argv
    assert "-Xmx256m" in argv
    assert argv[-2:] == ["org.apache.zookeeper.server.quorum.QuorumPeerMain", "/conf/zoo.cfg"]


def test_npm_pack_copies_the_bundled_package_under_npm_s_file_name(tmp_path: Path) -> None:
    text = RECIPES["node"].scripts["/usr/local/bin/npm"].text
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    (bundled / "eventide-message-db-1.3.1.tgz").write_bytes(b"tgz")
    script = tmp_path / "npm"
    script.write_text(text.replace("/usr/share/leapfrog/npm", str(bundled)))
    script.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        [str(script), "pack", "--silent", "@eventide/message-db@1.3.1"],
        cwd=work, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (work / "eventide-message-db-1.3.1.tgz").read_bytes() == b"tgz"
    missing = subprocess.run(
        [str(script), "pack", "left-pad@1.0.0"], cwd=work, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert missing.returncode == 1 and "not bundled" in missing.stderr


def test_the_archive_holds_the_recipe_s_config_and_both_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = RECIPES["consul"]
    binary = tmp_path / "consul"
    binary.write_bytes(b"\x7fELF consul")
    binary.chmod(0o755)
    files = {"/usr/local/bin/consul": (binary, "digest")}
    layer = tmp_path / "program.tar"
    accounts = ("root:x:0:0:root:/root:/bin/sh\n", "root:x:0:\n")
    _program_images._program_layer(recipe, files, layer, accounts)
    with tarfile.open(layer) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["usr/local/bin/consul"].mode == 0o755
    assert members["usr/local/bin/docker-entrypoint.sh"].mode == 0o755
    assert {m.uid for m in members.values()} == {0}
    with tarfile.open(layer) as tar:
        passwd = tar.extractfile("etc/passwd").read().decode()  # type: ignore[union-attr]
    assert passwd.splitlines() == [
        "root:x:0:0:root:/root:/bin/sh",
        "consul:x:100:1000:consul:/tmp:/usr/sbin/nologin",
    ]
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        tar.addfile(tarfile.TarInfo("etc"), io.BytesIO())
    archive = tmp_path / "consul.tar"
    _program_images._write_archive(
        recipe, "localhost/leapfrog-test/consul:abc", [rootfs, layer], archive
    )
    with tarfile.open(archive) as tar:
        read = tar.extractfile
        (manifest,) = json.loads(read("manifest.json").read())  # type: ignore[union-attr]
        config = json.loads(read(manifest["Config"]).read())  # type: ignore[union-attr]
        assert len(manifest["Layers"]) == 2
        assert read(manifest["Layers"][1]).read() == layer.read_bytes()  # type: ignore[union-attr]
    assert manifest["RepoTags"] == ["localhost/leapfrog-test/consul:abc"]
    assert config["config"]["Entrypoint"] == ["docker-entrypoint.sh"]
    assert config["config"]["User"] == "100:1000"
    assert len(config["rootfs"]["diff_ids"]) == 2
    assert os.path.getsize(archive) > layer.stat().st_size


def test_users_replace_a_package_s_account_of_the_same_name() -> None:
    passwd = "root:x:0:0:root:/root:/bin/sh\npostgres:x:104:110::/var/lib/postgresql:/bin/bash\n"
    group = "root:x:0:\npostgres:x:110:\nssl-cert:x:999:\n"
    new_passwd, new_group = with_users(passwd, group, (("postgres", 999, 999),))
    assert new_passwd.splitlines() == [
        "root:x:0:0:root:/root:/bin/sh",
        "postgres:x:999:999:postgres:/tmp:/usr/sbin/nologin",
    ]
    # gid 999 exists already (another name): it is kept, not doubled.
    assert new_group.splitlines() == ["root:x:0:", "ssl-cert:x:999:"]
