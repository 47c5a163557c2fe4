"""A transport that lives in memory: Kafka up, down, silent or failing, as a test wants."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from leapfrog.telemetry import DeliveryError, LogShipper, OnDelivery


class FakeTransport:
    """Called by the shipper's worker only; tests steer it through flags read by `poll`."""

    def __init__(self) -> None:
        self.up = True
        self.report_down = False  # the client's "all brokers down" error
        self.fail_pending: DeliveryError | None = None  # fail what is in flight, once
        self.refuse: Callable[[bytes], DeliveryError | None] = lambda _value: None
        self.capacity: int | None = None
        self.in_flight: list[tuple[str, bytes, bytes, OnDelivery]] = []
        self.delivered: list[tuple[str, bytes, bytes]] = []
        self.lock = threading.Lock()
        self.purged = 0

    def produce(self, topic: str, key: bytes, value: bytes, on_delivery: OnDelivery) -> None:
        if self.capacity is not None and len(self.in_flight) >= self.capacity:
            raise BufferError("queue full")
        self.in_flight.append((topic, key, value, on_delivery))

    def poll(self, timeout: float) -> None:
        if self.fail_pending is not None:
            error, self.fail_pending = self.fail_pending, None
            self._fail_all(error)
        if not self.up or not self.in_flight:
            time.sleep(min(timeout, 0.002))
            return
        batch, self.in_flight = self.in_flight, []
        for topic, key, value, done in batch:
            refused = self.refuse(value)
            if refused is None:
                with self.lock:
                    self.delivered.append((topic, key, value))
            done(refused)

    def unreachable(self) -> bool:
        down, self.report_down = self.report_down, False
        return down

    def purge(self) -> None:
        self.purged += len(self.in_flight)
        self._fail_all(DeliveryError("Purged in queue"))

    def close(self) -> None:
        pass

    def values(self, topic: str = "logs") -> list[bytes]:
        with self.lock:
            return [value for t, _key, value in self.delivered if t == topic]

    def _fail_all(self, error: DeliveryError) -> None:
        batch, self.in_flight = self.in_flight, []
        for _topic, _key, _value, done in batch:
            done(error)


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def settle(shipper: LogShipper) -> None:
    """Wait until the worker has taken everything out of the in-memory queue."""
    wait_for(lambda: shipper.counters["buffered"] == 0 or not shipper.kafka_reachable)
