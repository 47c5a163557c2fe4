"""The catalog as a stack's first unit, through the real `leapfrog` command."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import consul
import pytest

from leapfrog.testing import StackDir, free_port, wait_until
from tests.integration.conftest import APPS, tiny


@pytest.fixture
def stack() -> Iterator[StackDir]:
    with StackDir() as made:
        made.copy_in(APPS / "tiny.py")
        yield made


def test_a_taken_catalog_port_is_named_before_anything_starts(stack: StackDir) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        stack.write(
            f"catalog:\n  http: 127.0.0.1:{port}\n  dns: 127.0.0.1:{free_port()}\n"
            "services:\n" + tiny("web", 8000)
        )
        result = stack.up()
    assert result.code != 0
    assert f"leapfrog.yaml:2: catalog-1 cannot listen on 127.0.0.1:{port}" in result.output
    assert "catalog.http" in result.output
    assert "Traceback" not in result.output


def test_services_write_to_the_catalog_with_the_token_they_were_given(stack: StackDir) -> None:
    http = free_port()
    stack.write(
        f"catalog:\n  http: 127.0.0.1:{http}\n  dns: 127.0.0.1:{free_port()}\n"
        "services:\n" + tiny("web", 8000)
    )
    result = stack.up()
    assert result.code == 0, result.output
    tokens = json.loads(stack.cli("secrets", "catalog", "--json").stdout)["catalog"]
    token = tokens["services token"]  # what services get as CONSUL_HTTP_TOKEN
    with_token = consul.Consul(host="127.0.0.1", port=http, token=token)
    assert with_token.kv.put("app/color", "blue")
    with pytest.raises(consul.ACLPermissionDenied):
        consul.Consul(host="127.0.0.1", port=http).kv.put("app/color", "red")
    with pytest.raises(consul.ACLPermissionDenied):
        consul.Consul(host="127.0.0.1", port=http, token="not-the-token").kv.put("a", "b")
    before = stack.instance("catalog-1")["pid"]
    assert stack.cli("restart", "catalog").code == 0

    def back() -> bool:
        now = stack.instance("catalog-1")
        return bool(now["state"] == "healthy" and now["pid"] != before)

    wait_until(back, timeout=30, what="the catalog healthy again")
    _, item = with_token.kv.get("app/color")
    assert item is not None and item["Value"] == b"blue"
    with pytest.raises(consul.ACLPermissionDenied):  # Consul's default-deny
        consul.Consul(host="127.0.0.1", port=http).kv.get("app/color")
