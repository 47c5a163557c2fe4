"""The whole local platform through `leapfrog up`: the catalog, Kafka, ZooKeeper,
PostgreSQL with Message DB, and a service that reaches them all through the environment
leapfrog injected; data written before `down` is there after the next `up`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import consul
import dns.message
import dns.query
import psycopg
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from kazoo.client import KazooClient

from leapfrog.eventstore import MessageDbStore
from leapfrog.testing import StackDir, free_port, wait_until

PYTHON = shutil.which("python3", path="/usr/bin:/bin")


def stack_text() -> str:
    return f"""\
catalog:
  http: 127.0.0.1:{free_port()}
  dns: 127.0.0.1:{free_port()}
components:
  kafka:
    topics:
      greetings: {{partitions: 3}}
  zookeeper: {{}}
  postgres:
    roles:
      app: {{login: true}}
    databases:
      app: {{owner: app}}
    message_db: true
services:
  envdump:
    command: {PYTHON} envdump.py
    port: 8000
    kv_write: [e2e/]   # the test writes its marker with the service's own token
    check: {{http: /health}}
"""


@pytest.fixture(scope="module")
def platform() -> Iterator[StackDir]:
    with StackDir(stack_text(), prefix="leapfrog-e2e-") as stack:
        stack.copy_in(Path(__file__).parent / "envdump.py")
        result = stack.up(timeout=600)
        assert result.code == 0, result.output
        yield stack


def service_env(stack: StackDir) -> dict[str, str]:
    path = stack.root / ".leapfrog/data/envdump-1/env.json"
    env: dict[str, str] = json.loads(path.read_text())
    return env


def consumed(bootstrap: str, topic: str, wanted: bytes, within: float = 60.0) -> bool:
    """Read the topic from the start until `wanted` turns up or `within` seconds pass."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"e2e-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None and msg.value() == wanted:
                return True
    finally:
        consumer.close()
    return False


@pytest.mark.timeout(900)
def test_platform_comes_up_and_keeps_its_data_across_down_and_up(platform: StackDir) -> None:
    env = service_env(platform)
    for key in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "ZOOKEEPER_CONNECT",
        "DATABASE_URL",
        "MESSAGE_DB_URL",
        "CONSUL_HTTP_ADDR",
        "CONSUL_HTTP_TOKEN",
    ):
        assert env.get(key), f"{key} missing from the service environment: {sorted(env)}"

    status = {item["name"]: item for item in platform.status()}
    for name in ("catalog-1", "kafka-1", "zookeeper-1", "postgres-1", "envdump-1"):
        assert status[name]["state"] == "healthy", status[name]
    assert status["kafka-1"]["version"].startswith("4.")
    assert status["zookeeper-1"]["version"].startswith("3.9")
    assert status["postgres-1"]["version"]

    _components_are_in_the_catalog(platform, env, status)
    _secrets_stay_secret(platform, env)
    marker = str(uuid.uuid4())
    _write_everything(env, marker)
    _every_component_survives_a_kill(platform, status)
    _read_everything(env, marker)
    assert platform.down().code == 0
    result = platform.up(timeout=600)
    assert result.code == 0, result.output
    env_after = service_env(platform)
    assert env_after["DATABASE_URL"] == env["DATABASE_URL"]
    _read_everything(env_after, marker)
    _new_options_apply_without_a_restart(platform, env_after)


def _new_options_apply_without_a_restart(stack: StackDir, env: dict[str, str]) -> None:
    """A topic and a database more in the stack file: `up` on the running stack creates
    them, and Kafka and PostgreSQL keep running (same pids)."""
    before = {item["name"]: item["pid"] for item in stack.status()}
    text = stack.stack_file.read_text()
    text = text.replace(
        "      greetings: {partitions: 3}\n",
        "      greetings: {partitions: 3}\n      farewells: {partitions: 2}\n",
    )
    text = text.replace(
        "      app: {owner: app}\n", "      app: {owner: app}\n      audit: {owner: app}\n"
    )
    stack.write(text)
    result = stack.up(timeout=300)
    assert result.code == 0, result.output
    assert "set up again with new options: kafka-1, postgres-1" in result.output
    after = {item["name"]: item["pid"] for item in stack.status()}
    assert after["kafka-1"] == before["kafka-1"] and after["postgres-1"] == before["postgres-1"]
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"]})
    topics = admin.list_topics(timeout=10).topics
    assert len(topics["farewells"].partitions) == 2
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()]
    assert "audit" in names


def _every_component_survives_a_kill(stack: StackDir, before: dict[str, Any]) -> None:
    """kill -9 of any one program: the supervisor starts it again on the same data."""
    for name in ("kafka-1", "zookeeper-1", "postgres-1", "catalog-1"):
        os.kill(before[name]["pid"], signal.SIGKILL)

        def back(name: str = name) -> bool:
            now = stack.instance(name)
            return bool(now["state"] == "healthy" and now["restarts"] > before[name]["restarts"])

        wait_until(back, timeout=120, interval=0.5, what=f"{name} healthy again after kill -9")


def _secrets_stay_secret(stack: StackDir, env: dict[str, str]) -> None:
    found = json.loads(stack.cli("secrets", "--json", "--show-secrets").stdout)
    passwords = list(found["postgres-1"].values())
    tokens = found["catalog"]
    own = [items["catalog token"] for items in found.values() if "catalog token" in items]
    # Each service instance gets its own token; the management token stays with the
    # supervisor.
    assert env["CONSUL_HTTP_TOKEN"] in own
    assert tokens["management token"] not in env.values()
    assert any(p in env["DATABASE_URL"] for p in passwords)
    shown = stack.cli("status").output + stack.cli("logs", "-n", "10000").output
    state = (stack.root / ".leapfrog/run/state.json").read_text()
    for secret in [*passwords, *tokens.values(), *own]:
        assert secret not in shown and secret not in state


def _components_are_in_the_catalog(
    stack: StackDir, env: dict[str, str], status: dict[str, Any]
) -> None:
    host, port = env["CONSUL_HTTP_ADDR"].split(":")
    catalog = consul.Consul(host=host, port=int(port), token=env["CONSUL_HTTP_TOKEN"])
    # Consul's default-deny: a caller without a token is shown nothing.
    assert consul.Consul(host=host, port=int(port)).health.service("kafka")[1] == []
    for unit in ("kafka", "zookeeper", "postgres"):

        def passing(unit: str = unit) -> list[Any] | None:
            entries: list[Any] = catalog.health.service(unit, passing=True)[1]
            return entries or None

        found = wait_until(passing, timeout=60, what=f"{unit} passing in the catalog")
        service = found[0]["Service"]
        assert service["ID"] == f"{unit}-1"
        assert (service["Address"], service["Port"]) == (
            status[f"{unit}-1"]["address"],
            status[f"{unit}-1"]["port"],
        )
        assert service["Meta"]["version"] == status[f"{unit}-1"]["version"]
    dns_host, dns_port = env["LEAPFROG_CATALOG_DNS"].split(":")
    query = dns.message.make_query("kafka.service.consul", "SRV")
    answer = dns.query.udp(query, dns_host, port=int(dns_port), timeout=5)
    (srv,) = [rr for rrset in answer.answer for rr in rrset]
    assert srv.port == status["kafka-1"]["port"]
    addresses = [rr.address for rrset in answer.additional for rr in rrset if rr.rdtype == 1]
    assert addresses == [status["kafka-1"]["address"]]


def _write_everything(env: dict[str, str], marker: str) -> None:
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"], "acks": "all"})
    producer.produce("greetings", marker.encode())
    assert producer.flush(30) == 0
    zk = KazooClient(hosts=env["ZOOKEEPER_CONNECT"])
    zk.start(timeout=30)
    zk.create("/e2e/marker", marker.encode(), makepath=True)
    zk.stop()
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS markers (value text)")
        conn.execute("INSERT INTO markers VALUES (%s)", (marker,))
    store = MessageDbStore(env["MESSAGE_DB_URL"])
    store.write(f"e2e-{marker}", "Marked", {"marker": marker}, expected_version=-1)
    host, port = env["CONSUL_HTTP_ADDR"].split(":")
    catalog = consul.Consul(host=host, port=int(port), token=env["CONSUL_HTTP_TOKEN"])
    assert catalog.kv.put("e2e/marker", marker)
    anonymous = consul.Consul(host=host, port=int(port))
    with pytest.raises(consul.ACLPermissionDenied):
        anonymous.kv.put("e2e/other", "x")


def _read_everything(env: dict[str, str], marker: str) -> None:
    assert consumed(env["KAFKA_BOOTSTRAP_SERVERS"], "greetings", marker.encode())
    zk = KazooClient(hosts=env["ZOOKEEPER_CONNECT"])
    zk.start(timeout=30)
    assert zk.get("/e2e/marker")[0] == marker.encode()
    zk.stop()
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        rows: Any = conn.execute("SELECT value FROM markers").fetchall()
    assert (marker,) in rows
    store = MessageDbStore(env["MESSAGE_DB_URL"])
    (message,) = store.read_stream(f"e2e-{marker}")
    assert message.data == {"marker": marker}
    host, port = env["CONSUL_HTTP_ADDR"].split(":")
    catalog = consul.Consul(host=host, port=int(port), token=env["CONSUL_HTTP_TOKEN"])
    _, item = catalog.kv.get("e2e/marker")
    assert item is not None and item["Value"] == marker.encode()
