"""Log records as JSON events: fields, extras, exceptions, values JSON cannot hold."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

from leapfrog.telemetry import JsonFormatter, KafkaLogHandler, LogShipper, ShipperSettings
from leapfrog.telemetry import structlog_processor as make_processor
from leapfrog.telemetry._event import encode_event, rfc3339
from tests.unit.telemetry.fake import FakeTransport

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("app.web", logging.WARNING, __file__, 1, message, args or None, None)
    rec.__dict__.update(extra)
    return rec


def fmt() -> JsonFormatter:
    return JsonFormatter(service="hello", instance="hello-1", host="box")


def test_the_fixed_fields() -> None:
    event = json.loads(fmt().format(record("hello %s", "world")))
    assert TS.match(event.pop("ts"))
    assert event == {
        "level": "warning",
        "message": "hello world",
        "logger": "app.web",
        "service": "hello",
        "instance": "hello-1",
        "host": "box",
    }


def test_extras_are_fields_and_the_fixed_ones_win() -> None:
    event = json.loads(fmt().format(record(user="ann", seq=3, service="other")))
    assert event["user"] == "ann"
    assert event["seq"] == 3
    assert event["service"] == "hello"


def test_values_json_cannot_hold_become_their_repr() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<thing>"

    loop: list[object] = []
    loop.append(loop)
    event = json.loads(
        fmt().format(
            record(obj=Thing(), path=Path("/x"), nan=math.nan, keys={(1, 2): "a"}, loop=loop)
        )
    )
    assert event["obj"] == "<thing>"
    assert event["path"] == "PosixPath('/x')"
    assert event["nan"] == "nan"
    assert event["keys"] == {"(1, 2)": "a"}
    assert isinstance(event["loop"], list)


def test_exceptions_are_text() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = record()
        rec.exc_info = sys.exc_info()
    event = json.loads(fmt().format(rec))
    assert "ValueError: boom" in event["exception"]
    assert event["exception"].startswith("Traceback")


def test_rfc3339_has_microseconds_in_utc() -> None:
    assert rfc3339(0.25) == "1970-01-01T00:00:00.250000Z"
    assert rfc3339(1_700_000_000.000001)[:20] == "2023-11-14T22:13:20."


def test_encode_event_is_compact_utf8() -> None:
    assert encode_event({"a": "é", "b": 1}) == '{"a":"é","b":1}'.encode()


def test_the_handler_ships_records_but_not_the_shippers_own() -> None:
    fake = FakeTransport()
    settings = ShipperSettings(service="s", instance="s-1", host="h", bootstrap_servers="x:1")
    shipper = LogShipper(settings, transport=fake)
    logger = logging.getLogger("test.telemetry.handler")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = KafkaLogHandler(shipper)
    logger.addHandler(handler)
    own = logging.getLogger("leapfrog.telemetry.test")
    own.addHandler(handler)
    try:
        logger.info("one %d", 1, extra={"seq": 1})
        own.warning("about Kafka")
        logger.debug("filtered by level")
        shipper.start()
        shipper.close(timeout=5)
    finally:
        logger.removeHandler(handler)
        own.removeHandler(handler)
    events = [json.loads(v) for v in fake.values()]
    assert [(e["message"], e["seq"], e["level"], e["service"]) for e in events] == [
        ("one 1", 1, "info", "s")
    ]


def test_the_structlog_processor_ships_and_passes_the_event_on() -> None:
    fake = FakeTransport()
    settings = ShipperSettings(service="s", instance="s-1", host="h", bootstrap_servers="x:1")
    shipper = LogShipper(settings, transport=fake)
    process = make_processor(shipper, logger_name="app")
    given = {"event": "paid", "amount": 3, "level": "INFO", "timestamp": "t"}
    assert process(None, "info", dict(given)) == given
    shipper.start()
    shipper.close(timeout=5)
    (event,) = [json.loads(v) for v in fake.values()]
    assert TS.match(event.pop("ts"))
    assert event == {
        "level": "info",
        "message": "paid",
        "logger": "app",
        "service": "s",
        "instance": "s-1",
        "host": "h",
        "amount": 3,
    }
