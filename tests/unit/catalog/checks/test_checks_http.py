"""HTTP checks against a real local server: status mapping, Output text, body capture."""

from __future__ import annotations

import pytest

from leapfrog.catalog.checks import CheckDefinition, Status, make_checker

from .conftest import Servers
from .support import Reports, run

pytestmark = pytest.mark.timeout(60)

FAST = 0.05


def http_check(url: str, **fields: object) -> CheckDefinition:
    return CheckDefinition(check_id="web", kind="http", http=url, interval=FAST, **fields)  # type: ignore[arg-type]


def first_report(definition: CheckDefinition, initial: Status = "critical") -> tuple[Status, str]:
    """Run one check until its first report, then close the checker."""
    found: list[tuple[Status, str]] = []

    async def scenario() -> None:
        reports = Reports()
        checker = make_checker(reports, min_interval=FAST)
        checker.add(definition, initial)
        found.extend(await reports.wait(definition.check_id))
        await checker.close()

    run(scenario)
    return found[0]


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        (200, "passing", "OK"),
        (204, "passing", "No Content"),
        (429, "warning", "Too Many Requests"),
        (500, "critical", "Internal Server Error"),
        (404, "critical", "Not Found"),
        (400, "critical", "Bad Request"),
    ],
)
def test_status_code_maps_to_consul_status_and_output(
    servers: Servers, code: int, status: Status, reason: str
) -> None:
    url = servers.url(f"/status/{code}?body=hello")
    body = "" if code == 204 else "hello"
    # A passing check starting "passing" would not report; start from the other side.
    initial: Status = "critical" if status != "critical" else "passing"
    assert first_report(http_check(url), initial) == (
        status,
        f"HTTP GET {url}: {code} {reason} Output: {body}",
    )


@pytest.mark.parametrize("route", ["big", "chunked", "close"])
def test_body_is_cut_at_output_max_size(servers: Servers, route: str) -> None:
    url = servers.url(f"/{route}?size=10000")
    _, output = first_report(http_check(url, output_max_size=100))
    prefix = f"HTTP GET {url}: 200 OK Output: "
    assert output.startswith(prefix)
    body = output.removeprefix(prefix)
    assert len(body) == 100
    assert set(body) == {"x" if route == "big" else "y" if route == "chunked" else "z"}


@pytest.mark.parametrize("route", ["big", "chunked", "close"])
def test_default_output_max_size_is_4096(servers: Servers, route: str) -> None:
    url = servers.url(f"/{route}?size=5000")
    _, output = first_report(http_check(url))
    assert len(output.removeprefix(f"HTTP GET {url}: 200 OK Output: ")) == 4096


@pytest.mark.parametrize("route", ["big", "chunked", "close"])
def test_short_body_is_read_whole(servers: Servers, route: str) -> None:
    url = servers.url(f"/{route}?size=2500")
    _, output = first_report(http_check(url))
    assert len(output.removeprefix(f"HTTP GET {url}: 200 OK Output: ")) == 2500


def test_method_headers_and_body_reach_the_server(servers: Servers) -> None:
    url = servers.url("/echo")
    definition = http_check(
        url,
        method="POST",
        header={"X-Trace": ("one", "two"), "Content-Type": ("application/json",)},
        body='{"ping": true}',
    )
    status, output = first_report(definition)
    assert status == "passing"
    assert output.startswith(f"HTTP POST {url}: 200 OK Output: POST /echo HTTP/1.1\r\n")
    lines = output.split("\r\n")
    for expected in (
        "X-Trace: one",
        "X-Trace: two",
        "Content-Type: application/json",
        "User-Agent: Consul Health Check",
        "Accept: text/plain, text/*, */*",
        "Content-Length: 14",
        f"Host: 127.0.0.1:{servers.http_port}",
    ):
        assert expected in lines
    assert output.endswith('\r\n\r\n{"ping": true}')


def test_given_user_agent_and_accept_replace_the_defaults(servers: Servers) -> None:
    definition = http_check(
        servers.url("/echo"), header={"user-agent": ("probe/1",), "Accept": ("*/*",)}
    )
    lines = first_report(definition)[1].split("\r\n")
    assert "user-agent: probe/1" in lines
    assert "Accept: */*" in lines
    assert not [line for line in lines if "Consul Health Check" in line or "text/plain" in line]


def test_slow_answer_is_critical_after_timeout(servers: Servers) -> None:
    url = servers.url("/slow?delay=5")
    status, output = first_report(http_check(url, timeout=0.2), "passing")
    assert status == "critical"
    assert output == f'Get "{url}": Client.Timeout exceeded (200ms)'


def test_refused_connection_is_critical_with_dial_error(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/health"
    status, output = first_report(http_check(url), "passing")
    assert status == "critical"
    assert output == f'Get "{url}": dial tcp 127.0.0.1:{closed_port}: connect: connection refused'


def test_unsupported_scheme_is_critical() -> None:
    status, output = first_report(http_check("ftp://127.0.0.1/x"), "passing")
    assert (status, output) == (
        "critical",
        "Get \"ftp://127.0.0.1/x\": unsupported protocol scheme 'ftp'",
    )


def test_https_with_tls_skip_verify_accepts_self_signed(servers: Servers) -> None:
    url = servers.https_url("/status/200?body=secure")
    definition = http_check(url, tls_skip_verify=True)
    assert first_report(definition) == ("passing", f"HTTP GET {url}: 200 OK Output: secure")


def test_https_without_skip_verify_rejects_self_signed(servers: Servers) -> None:
    url = servers.https_url("/status/200")
    status, output = first_report(http_check(url), "passing")
    assert status == "critical"
    assert output.startswith(f'Get "{url}": tls: failed to verify certificate: ')


def test_redirects_are_followed_and_output_names_the_checked_url(servers: Servers) -> None:
    url = servers.url("/redirect?to=/status/200%3Fbody%3Darrived")
    assert first_report(http_check(url)) == ("passing", f"HTTP GET {url}: 200 OK Output: arrived")


def test_303_turns_post_into_get_and_307_keeps_it(servers: Servers) -> None:
    for code, method in ((303, "GET"), (307, "POST")):
        url = servers.url(f"/redirect?code={code}&to=/echo")
        _, output = first_report(http_check(url, method="POST", body="x"))
        assert output.startswith(f"HTTP POST {url}: 200 OK Output: {method} /echo HTTP/1.1")


def test_redirect_loop_stops_after_ten(servers: Servers) -> None:
    url = servers.url("/loop")
    status, output = first_report(http_check(url), "passing")
    assert (status, output) == ("critical", f'Get "{url}": stopped after 10 redirects')
