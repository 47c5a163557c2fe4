from __future__ import annotations

from datetime import UTC, datetime

from leapfrog.console._history import history, spoken
from leapfrog.console._logsearch import LogHit


def _hit(ts: str, event: str, state: str) -> LogHit:
    source = {"@timestamp": ts, "event": event, "state": state, "level": "info", "detail": ""}
    return LogHit("logs-x", ts, source)


def test_changes_come_newest_first_with_how_long_each_state_lasted() -> None:
    hits = [
        _hit("2026-01-01T00:01:00Z", "exited", "starting"),
        _hit("2026-01-01T00:00:00Z", "health", "healthy"),
        _hit("2026-01-01T00:01:05Z", "health", "healthy"),
        _hit("not a time", "health", "healthy"),
    ]
    found = history(hits, datetime(2026, 1, 1, 0, 2, 5, tzinfo=UTC))
    assert [(c.event, c.lasted) for c in found.changes] == [
        ("health", 60.0),
        ("exited", 5.0),
        ("health", 60.0),
    ]
    assert found.spent == [("healthy", 120.0), ("starting", 5.0)]
    assert found.total == 125.0


def test_no_events_is_an_empty_history() -> None:
    found = history([], datetime(2026, 1, 1, tzinfo=UTC))
    assert found.changes == [] and found.spent == [] and found.total == 0


def test_durations_are_spoken() -> None:
    assert spoken(0.4) == "0s"
    assert spoken(3725) == "1h 2m 5s"
    assert spoken(120) == "2m"
    assert spoken(90061) == "1d 1h 1m 1s"


def test_the_history_page_renders_the_changes_and_a_sentence_for_an_unknown_instance() -> None:
    import httpx
    from starlette.testclient import TestClient

    from leapfrog.console import ConsoleSettings, create_app
    from leapfrog.console._sessions import COOKIE, Session
    from leapfrog.console._web import Console

    hits: list[dict[str, object]] = [
        {
            "_index": "logs-2026.01.01",
            "_id": "a",
            "_source": {
                "@timestamp": "2026-01-01T00:00:00Z",
                "event": "exited",
                "state": "starting",
                "level": "error",
                "signal": "SIGKILL",
                "exit_code": -9,
            },
        },
        {
            "_index": "logs-2026.01.01",
            "_id": "b",
            "_source": {
                "@timestamp": "2026-01-01T00:00:05Z",
                "event": "health",
                "state": "healthy",
            },
        },
    ]

    def opensearch(request: httpx.Request) -> httpx.Response:
        wanted = "web-1" in request.content.decode()
        found = hits if wanted else []
        return httpx.Response(200, json={"hits": {"total": {"value": len(found)}, "hits": found}})

    settings = ConsoleSettings(catalog_url="http://127.0.0.1:9", opensearch_url="http://os:9200")
    app = create_app(settings)
    console: Console = app.state.console
    with TestClient(app) as client:
        console.http = httpx.AsyncClient(transport=httpx.MockTransport(opensearch))
        sid = console.sessions.create(Session("t", "accessor", "", can_write=False))
        client.cookies.set(COOKIE, sid)
        page = client.get("/instances/web-1?from=2025-12-31T23:00&to=2026-01-01T00:01")
        assert page.status_code == 200, page.text
        assert 'data-event="exited"' in page.text and "SIGKILL" in page.text
        assert page.text.index('data-event="health"') < page.text.index('data-event="exited"')
        assert "(code" not in page.text
        unknown = client.get("/instances/nobody")
        assert "no instance named" in unknown.text and "Traceback" not in unknown.text
