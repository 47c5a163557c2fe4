"""A service's pod waits for its catalog token: its init container's own command, with
its own env, against a real HashiCorp Consul started with the rendered StatefulSet's
arguments, keeps waiting while the catalog Job has not run, and returns once the Job has
made the token. The Job and the pods start together on `apply`; without the wait the SDK
fails its registration and the kubelet restarts it until the Job is done."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from leapfrog.runtime.kubernetes import render_stack
from leapfrog.spec import load_stack
from tests.kubernetes._consul_server import pod_env, real_consul

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _init_container(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    deployment = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == name
    )
    (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
    found: dict[str, Any] = init
    return found


def _argv(init: dict[str, Any]) -> list[str]:
    """The container's command, with this checkout's leapfrog for the image's."""
    assert init["command"][0] == "leapfrog"
    return [sys.executable, "-m", "leapfrog", *init["command"][1:]]


@pytest.mark.parametrize("identity", [True, False])
def test_the_init_container_waits_until_the_job_has_made_the_token(
    tmp_path: Path, identity: bool
) -> None:
    stack = tmp_path / "leapfrog.yaml"
    data = {
        "name": "shop",
        "identity": identity,
        "services": {"api": {"command": "serve", "image": "reg.example/api", "port": 8000}},
    }
    stack.write_text(yaml.safe_dump(data))
    rendered = render_stack(load_stack(stack))
    secrets = {s.name: str(uuid.uuid4()) for s in rendered.secrets}
    init = _init_container(rendered.objects, "api")
    env = pod_env(init, secrets)
    # The service's own token, identity on or off.
    wanted = "api-catalog-token"
    assert env["CONSUL_HTTP_TOKEN"] == secrets[wanted]
    with real_consul(rendered.objects, secrets, tmp_path) as consul:
        env |= {"CONSUL_HTTP_ADDR": consul.addr, "PATH": os.environ["PATH"]}
        log = tmp_path / "wait.log"
        with log.open("w") as out:
            waiting = subprocess.Popen(_argv(init), env=env, stdout=out, stderr=out)
        try:
            time.sleep(3)
            assert waiting.poll() is None, log.read_text()  # no token yet: it waits
            consul.run_job(rendered.objects, secrets)
            assert waiting.wait(timeout=30) == 0, log.read_text()
        finally:
            if waiting.poll() is None:
                waiting.kill()
                waiting.wait()
        said = log.read_text()
        assert "the catalog token works" in said
        assert secrets[wanted] not in said


def test_a_token_that_never_works_ends_with_a_sentence_not_the_secret(tmp_path: Path) -> None:
    stack = tmp_path / "leapfrog.yaml"
    data = {"name": "shop", "services": {"api": {"command": "x", "image": "reg.example/a"}}}
    stack.write_text(yaml.safe_dump(data))
    rendered = render_stack(load_stack(stack))
    secrets = {s.name: str(uuid.uuid4()) for s in rendered.secrets}
    init = _init_container(rendered.objects, "api")
    with real_consul(rendered.objects, secrets, tmp_path) as consul:
        env = pod_env(init, secrets) | {"CONSUL_HTTP_ADDR": consul.addr}
        argv = [*_argv(init)[:-2], "--timeout", "3s"]
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 1
    assert "the catalog token still does not work after 3s: the catalog answers 403" in (
        done.stderr
    )
    assert "ACL not found" in done.stderr and "Traceback" not in done.stderr
    assert env["CONSUL_HTTP_TOKEN"] not in done.stderr + done.stdout
