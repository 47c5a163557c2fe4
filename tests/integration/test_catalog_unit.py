"""The catalog as a stack's first unit, through the real `leapfrog` command."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

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


def _secrets(stack: StackDir, *args: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(stack.cli("secrets", "--json", *args).stdout)
    return found


def test_each_instance_has_its_own_token_with_its_service_identity(stack: StackDir) -> None:
    http = free_port()
    head = f"catalog:\n  http: 127.0.0.1:{http}\n  dns: 127.0.0.1:{free_port()}\nservices:\n"
    stack.write(head + tiny("web", 8000, extra="kv: [app/web/]"))
    result = stack.up()
    assert result.code == 0, result.output
    found = _secrets(stack, "--show-secrets")
    token = found["web-1"]["catalog token"]  # what web-1 got as CONSUL_HTTP_TOKEN
    management = found["catalog"]["management token"]
    root = consul.Consul(host="127.0.0.1", port=http, token=management)
    root.kv.put("app/web/color", "blue")
    root.kv.put("app/billing/key", "k")
    web = consul.Consul(host="127.0.0.1", port=http, token=token)
    assert web.agent.service.register("web", service_id="web-1x", port=8000)
    with pytest.raises(consul.ACLPermissionDenied, match="lacks permission 'service:write'"):
        web.agent.service.register("billing", service_id="billing-1", port=8001)
    assert web.kv.get("app/web/color")[1]["Value"] == b"blue"
    with pytest.raises(consul.ACLPermissionDenied, match="key:read"):
        web.kv.get("app/billing/key")
    with pytest.raises(consul.ACLPermissionDenied, match="key:write"):
        web.kv.put("app/web/color", "red")
    me = web.acl.token.read_self()
    assert me["ServiceIdentities"] == [{"ServiceName": "web"}] and me["SecretID"] == token
    # Listed by AccessorID; the values only when asked for.
    hidden = _secrets(stack)
    assert hidden["web-1"]["catalog token"] == "<hidden>"
    assert {"Unit": "web-1", "What": "catalog token", "AccessorID": me["AccessorID"]} in hidden[
        "tokens"
    ]
    assert token not in stack.cli("secrets").output

    # A new instance's token works without restarting the catalog (it reads the tokens
    # file again), and the catalog keeps its pid.
    before = stack.instance("catalog-1")["pid"]
    stack.write(head + tiny("web", 8000, extra="kv: [app/web/]\nreplicas: 2"))
    assert stack.up().code == 0
    second = _secrets(stack, "--show-secrets")["web-2"]["catalog token"]
    web2 = consul.Consul(host="127.0.0.1", port=http, token=second)

    def known() -> bool:
        try:
            return web2.kv.get("app/web/color")[1] is not None
        except consul.ACLPermissionDenied:
            return False

    wait_until(known, timeout=10, what="web-2's token known to the catalog")
    assert stack.instance("catalog-1")["pid"] == before


def test_services_write_to_the_catalog_with_the_token_they_were_given(stack: StackDir) -> None:
    http = free_port()
    stack.write(
        f"catalog:\n  http: 127.0.0.1:{http}\n  dns: 127.0.0.1:{free_port()}\n"
        "services:\n" + tiny("web", 8000, extra="kv: [app/]")
    )
    result = stack.up()
    assert result.code == 0, result.output
    token = _secrets(stack, "--show-secrets")["web-1"]["catalog token"]
    management = _secrets(stack, "--show-secrets")["catalog"]["management token"]
    consul.Consul(host="127.0.0.1", port=http, token=management).kv.put("app/color", "blue")
    with_token = consul.Consul(host="127.0.0.1", port=http, token=token)
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
