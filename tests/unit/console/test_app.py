"""The console's app without a stack: the login wall, the security headers, login's
CSRF check, and the overview's colours for what the supervisor reports."""

from __future__ import annotations

from starlette.testclient import TestClient

from leapfrog.console import ConsoleSettings, create_app
from leapfrog.console._security import CSP
from leapfrog.console._supervisor import StackWatch


def _client() -> TestClient:
    # A catalog address nothing listens on: login must fail with a sentence.
    return TestClient(create_app(ConsoleSettings(catalog_url="http://127.0.0.1:9")))


def test_pages_need_a_login_and_carry_strict_headers() -> None:
    with _client() as client:
        for path in ("/", "/kv", "/logs", "/metrics/panel?dashboard=platform&panel=0"):
            answer = client.get(path, follow_redirects=False)
            assert answer.status_code == 303 and answer.headers["location"] == "/login"
            assert answer.headers["content-security-policy"] == CSP
        stream = client.get("/overview/stream", follow_redirects=False)
        assert stream.status_code == 401
        assert client.get("/healthz").text == "ok\n"
        login = client.get("/login")
        assert login.status_code == 200
        assert "'unsafe-inline'" not in login.headers["content-security-policy"]
        assert login.headers["x-frame-options"] == "DENY"
        assert 'type="password"' in login.text and "<script>" not in login.text


def test_login_refuses_a_forged_form_and_an_unreachable_catalog() -> None:
    with _client() as client:
        forged = client.post("/login", data={"csrf": "guess", "token": "t"})
        assert "the login form was stale" in forged.text
        page = client.get("/login")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        down = client.post("/login", data={"csrf": csrf, "token": "t"})
        assert "does not answer" in down.text
        assert "leapfrog_console=" not in down.headers.get("set-cookie", "")
        assert "Traceback" not in down.text


def test_rows_turn_red_when_the_process_is_gone() -> None:
    watch = StackWatch(None)
    base = {"name": "web-1", "unit": "web", "kind": "service", "address": "127.0.0.2", "port": 80}
    healthy = watch._row(base | {"state": "healthy", "pid": None})
    assert healthy.tone == "ok" and healthy.address == "127.0.0.2:80"
    killed = watch._row(base | {"state": "starting", "pid": None, "exit_code": -9, "restarts": 1})
    assert killed.tone == "bad" and killed.down
    restarted = watch._row(base | {"state": "starting", "pid": 1, "exit_code": -9})
    assert restarted.tone == "pending"
    done = watch._row(base | {"state": "stopped", "pid": None, "exit_code": 0, "completed": True})
    assert done.tone == "ok"
    assert watch._row(base | {"state": "unhealthy", "pid": 1}).tone == "bad"
