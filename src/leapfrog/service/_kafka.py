"""Producing to Kafka from async code: `await send(...)` returns once the broker has
acknowledged the record (acks=all, idempotent producer), without blocking the loop."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

__all__ = ["AsyncProducer", "KafkaSendError"]


class KafkaSendError(Exception):
    """The broker did not acknowledge the record; the message says why."""


class AsyncProducer:
    """One confluent-kafka producer polled by a thread; `bootstrap` defaults to
    KAFKA_BOOTSTRAP_SERVERS. Extra librdkafka settings go in `config`."""

    def __init__(self, bootstrap: str | None = None, **config: Any) -> None:
        from confluent_kafka import Producer

        servers = bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not servers:
            raise KafkaSendError("no Kafka: set KAFKA_BOOTSTRAP_SERVERS or pass bootstrap=")
        settings: dict[str, Any] = {
            "bootstrap.servers": servers,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 2,
            "compression.type": "lz4",
            "message.timeout.ms": 30000,
        }
        settings.update({k.replace("_", "."): v for k, v in config.items()})
        self._producer = Producer(settings)
        self._running = True
        self._poller = threading.Thread(target=self._poll, name="kafka-producer", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while self._running:
            self._producer.poll(0.05)

    async def send(
        self, topic: str, value: bytes, key: bytes | str | None = None
    ) -> tuple[int, int]:
        """Produce and wait for the acknowledgement; returns (partition, offset)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[int, int]] = loop.create_future()

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                outcome: Any = KafkaSendError(f"{topic}: {err.str()}")
            else:
                outcome = (msg.partition(), msg.offset())
            loop.call_soon_threadsafe(_settle, done, outcome)

        while True:
            try:
                self._producer.produce(topic, value, key=key, on_delivery=delivered)
                break
            except BufferError:
                await asyncio.sleep(0.005)  # the local queue is full: let it drain
        return await done

    def close(self, timeout: float = 10.0) -> int:
        """Flush, stop polling; returns how many records were still undelivered."""
        remaining: int = self._producer.flush(timeout)
        self._running = False
        self._poller.join(timeout=1)
        return remaining


def _settle(future: asyncio.Future[tuple[int, int]], outcome: Any) -> None:
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
