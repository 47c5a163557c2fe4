"""The SDK's identity pieces in process: the gate's answers for no certificate, a denied
and an allowed caller (whose name reaches the handler), the open health paths, the
settings flag and the https check it registers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from leapfrog.service._identity import IdentityGate, peer_identity
from leapfrog.service._registration import service_definition
from leapfrog.service._settings import ServiceSettings, SettingsError

URI = "spiffe://abc.consul/ns/default/dc/dc1/svc/web"


class FakeIdentity:
    def __init__(self, allowed: bool) -> None:
        self.allowed = allowed
        self.asked: list[tuple[str, str]] = []

    def cached(self, peer: tuple[str, str]) -> tuple[bool, str] | None:
        return None

    async def authorize(self, uri: str, serial: str) -> tuple[bool, str]:
        self.asked.append((uri, serial))
        return self.allowed, "Matched L4 intention: web => db (deny)"


def _run(gate: IdentityGate, path: str, peer: tuple[str, str] | None) -> tuple[int, bytes, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["caller"] = scope.get("state", {}).get("caller")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    gate.app = app
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "path": path, "extensions": {"tls": {"leapfrog_peer": peer}}}
    asyncio.run(gate(scope, receive, send))
    return sent[0]["status"], sent[1]["body"], seen.get("caller")


def test_the_gate_refuses_without_a_certificate_but_not_health() -> None:
    gate = IdentityGate(None, FakeIdentity(True))  # type: ignore[arg-type]
    status, body, _ = _run(gate, "/", None)
    assert status == 403 and b"client certificate is required" in body
    assert _run(gate, "/health/ready", None)[0] == 200
    assert _run(gate, "/metrics", None)[0] == 200


def test_a_denied_caller_gets_the_reason_an_allowed_one_is_named() -> None:
    denied = IdentityGate(None, FakeIdentity(False))  # type: ignore[arg-type]
    status, body, _ = _run(denied, "/", (URI, "01:02"))
    assert status == 403
    assert body == b"caller 'web' is not allowed: Matched L4 intention: web => db (deny)"
    identity = FakeIdentity(True)
    allowed = IdentityGate(None, identity)  # type: ignore[arg-type]
    assert _run(allowed, "/", (URI, "01:02")) == (200, b"ok", "web")
    assert identity.asked == [(URI, "01:02")]


def test_peer_identity_of_nothing_is_none() -> None:
    assert peer_identity(None) is None and peer_identity(b"") is None


def test_identity_setting_and_the_https_check() -> None:
    env = {"LEAPFROG_SERVICE": "db", "LEAPFROG_IDENTITY": "on", "PORT": "9000"}
    settings = ServiceSettings.from_env(env=env)
    assert settings.identity
    check = service_definition(settings)["Check"]
    assert check["HTTP"].startswith("https://") and check["TLSSkipVerify"] is True
    plain = ServiceSettings.from_env(env={"LEAPFROG_SERVICE": "db"})
    assert not plain.identity and "TLSSkipVerify" not in service_definition(plain)["Check"]
    with pytest.raises(SettingsError, match="LEAPFROG_IDENTITY"):
        ServiceSettings.from_env(env={**env, "LEAPFROG_IDENTITY": "maybe"})
