"""The load balancer's rendered template (its ConfigMap) works as its pod uses it: the
real `leapfrog template` renders it from a real catalog, and real HAProxy accepts the
configuration, with a registered service routed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from leapfrog.components import component
from leapfrog.runtime.kubernetes import render_stack
from leapfrog.shared.cache import cache_dir
from leapfrog.spec import load_stack
from leapfrog.testing import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_lb_template_renders_from_the_catalog_into_a_valid_haproxy_config(
    tmp_path: Path,
) -> None:
    stack = tmp_path / "leapfrog.yaml"
    data = {
        "name": "shop",
        "catalog": {"acl": False},
        "components": {"lb": {}},
        "services": {"web": {"command": "x", "image": "reg.example/web", "port": 8000}},
    }
    stack.write_text(yaml.safe_dump(data))
    rendered = render_stack(load_stack(stack))
    config_map = next(o for o in rendered.objects if o["metadata"]["name"] == "lb-template")
    template = tmp_path / "haproxy.cfg.j2"
    template.write_text(config_map["data"]["haproxy.cfg.j2"])
    lb = component("lb")
    binary = lb.install(lb.options({}), cache_dir(), lambda _line: None).extra["binary"]
    output = tmp_path / "haproxy.cfg"
    with CatalogProcess(tmp_path / "catalog") as catalog:
        service = {
            "ID": "web-1",
            "Name": "web",
            "Address": "10.0.0.7",
            "Port": 8000,
            "Meta": {"route_path": "/web"},
        }
        reply = httpx.put(f"http://{catalog.http_addr}/v1/agent/service/register", json=service)
        assert reply.status_code == 200
        done = subprocess.run(
            [sys.executable, "-m", "leapfrog", "template", "--once",
             "-t", f"{template}:{output}", "--consul-addr", catalog.http_addr],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    text = output.read_text()
    assert "bind :8080" in text and "bind :8404" in text
    assert "10.0.0.7:8000" in text
    checked = subprocess.run(
        [binary, "-c", "-f", str(output)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
