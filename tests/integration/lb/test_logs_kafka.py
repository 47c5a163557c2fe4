"""Access logs join the Kafka `logs` topic (through leapfrog.telemetry), with a real broker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer

from leapfrog.testing import CatalogProcess, run_component, scratch_dir

from .conftest import Backend, Balancer, wait_for

ADDRESS = "127.0.0.68"  # backup/test_opensearch.py keeps .61, and may run beside this


def test_access_events_reach_the_logs_topic(
    catalog: CatalogProcess, lb_dir: Path, backends: Callable[..., Backend]
) -> None:
    with scratch_dir("lf-lb-kafka-") as base:
        topics = {"logs": {"partitions": 1}}
        with run_component("kafka", {"topics": topics}, base, address=ADDRESS) as kafka:
            servers = kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]
            where = lb_dir / "kafka-shipping"
            where.mkdir()
            lb = Balancer(
                "haproxy", catalog.http_addr, where, env={"KAFKA_BOOTSTRAP_SERVERS": servers}
            )
            try:
                backends("shipped", "shipped-1", "/shipped")
                marker = f"/shipped/{uuid.uuid4().hex}"
                wait_for("served", lambda: lb.http.get(marker).status_code == 200)
                consumer = Consumer(
                    {
                        "bootstrap.servers": servers,
                        "group.id": f"test-{uuid.uuid4()}",
                        "auto.offset.reset": "earliest",
                    }
                )
                consumer.subscribe(["logs"])
                found: list[dict[str, object]] = []

                def shipped() -> bool:
                    message = consumer.poll(0.5)
                    if message is not None and message.error() is None:
                        event = json.loads(message.value())
                        # Requests before the route existed were logged too, as 404s.
                        if event.get("path") == marker and event.get("status") == 200:
                            found.append(event)
                    return bool(found)

                try:
                    wait_for("the access event on the logs topic", shipped, timeout=60)
                finally:
                    consumer.close()
                event = found[0]
                assert event["service"] == "lb" and event["kind"] == "access"
                assert event["backend"] == "shipped" and event["method"] == "GET"
            finally:
                lb.stop()
