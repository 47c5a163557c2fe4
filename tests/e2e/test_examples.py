"""The example services through the real platform: hello accepts events (202 only once
Kafka acknowledged them), reader consumes them into PostgreSQL. Every accepted event is
counted once, across a reader restart; the services' logs reach the `logs` topic."""

from __future__ import annotations

import json
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from confluent_kafka import Consumer

from leapfrog.shared.users import blocked_at, ensure_user
from leapfrog.testing import StackDir, wait_until
from tests.e2e.test_platform import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_stack() -> str:
    spec: dict[str, Any] = yaml.safe_load((EXAMPLES / "leapfrog.yaml").read_text())
    spec["catalog"] = {"http": f"127.0.0.1:{free_port()}", "dns": f"127.0.0.1:{free_port()}"}
    spec["components"].pop("zookeeper")  # the examples do not use it
    spec["components"].pop("lb", None)
    # The app user runs the services with leapfrog's interpreter; where a checkout sits in
    # a folder that user cannot enter, run them as root instead.
    if blocked_at(Path(sys.executable).parent, ensure_user("leapfrog")) is not None:
        for service in spec["services"].values():
            service["user"] = "root"
    return yaml.safe_dump(spec, sort_keys=False)


@pytest.fixture(scope="module")
def examples() -> Iterator[StackDir]:
    with StackDir(example_stack(), prefix="leapfrog-examples-") as stack:
        for name in ("hello", "reader"):
            shutil.copytree(EXAMPLES / name, stack.root / name)
        result = stack.up(timeout=600)
        assert result.code == 0, result.output
        yield stack


def urls(stack: StackDir, unit: str) -> list[str]:
    items = [i for i in stack.status() if i["unit"] == unit]
    return [f"http://{i['address']}:{i['port']}" for i in items]


def post_events(hello: list[str], run: str, first: int, count: int) -> list[str]:
    accepted = []
    with httpx.Client(timeout=30) as http:
        for n in range(first, first + count):
            event = {"id": f"{run}-{n}", "type": "greeting", "data": {"n": n}}
            answer = http.post(hello[n % len(hello)] + "/events", json=event)
            assert answer.status_code == 202, answer.text
            accepted.append(answer.json()["id"])
    return accepted


def counted(reader: list[str]) -> dict[str, int]:
    answer = httpx.get(reader[0] + "/events/count", timeout=10)
    assert answer.status_code == 200, answer.text
    data: dict[str, int] = answer.json()
    return data


@pytest.mark.timeout(600)
def test_every_accepted_event_is_counted_once_across_a_reader_restart(
    examples: StackDir,
) -> None:
    hello = urls(examples, "hello")
    assert len(hello) == 2
    greeting = httpx.get(hello[0] + "/").text
    assert greeting.startswith("Hello world!") and "hello-" in greeting
    run = uuid.uuid4().hex[:8]
    accepted = post_events(hello, run, 0, 150)
    restarted = examples.cli("restart", "reader", timeout=120)
    assert restarted.code == 0, restarted.output
    accepted += post_events(hello, run, 150, 150)
    reader = urls(examples, "reader")
    wait_until(lambda: counted(reader)["count"] >= 300, timeout=90, what="reader caught up")
    time.sleep(1.0)  # anything counted twice would show up now
    final = counted(reader)
    assert final == {"count": 300, "distinct": 300}
    recent = httpx.get(reader[1 % len(reader)] + "/events/recent?n=5").json()["events"]
    assert len(recent) == 5 and all(e["id"].startswith(run) for e in recent)


def test_bad_events_are_refused_with_the_reason(examples: StackDir) -> None:
    hello = urls(examples, "hello")[0]
    answer = httpx.post(hello + "/events", content=b'{"data": 3}')
    assert answer.status_code == 400
    assert any(p.startswith("type:") for p in answer.json()["problems"])
    assert httpx.post(hello + "/events", content=b"not json").status_code == 400


def test_the_services_are_in_the_catalog_and_their_logs_in_kafka(examples: StackDir) -> None:
    consul_addr = _catalog_addr(examples)
    health = httpx.get(f"http://{consul_addr}/v1/health/service/reader?passing=1").json()
    assert sorted(e["Service"]["ID"] for e in health) == ["reader-1", "reader-2"]
    assert all(e["Service"]["Meta"]["version"] == "1.0.0" for e in health)
    hello = httpx.get(f"http://{consul_addr}/v1/health/service/hello?passing=1").json()
    assert {e["Service"]["Meta"]["route_path"] for e in hello} == {"/"}
    bootstrap = _kafka(examples)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(["logs"])
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not {"hello", "reader"} <= seen:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            event = json.loads(msg.value())
            assert {"ts", "level", "message", "service", "instance", "host"} <= set(event)
            seen.add(event["service"])
    finally:
        consumer.close()
    assert {"hello", "reader"} <= seen


def _catalog_addr(stack: StackDir) -> str:
    spec = yaml.safe_load(stack.stack_file.read_text())
    return str(spec["catalog"]["http"])


def _kafka(stack: StackDir) -> str:
    item = next(i for i in stack.status() if i["unit"] == "kafka")
    return f"{item['address']}:{item['port']}"
