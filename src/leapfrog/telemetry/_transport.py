"""How the shipper hands records to Kafka: a small protocol, and the librdkafka producer
behind it. Unit tests give the shipper a transport of their own instead."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from leapfrog.telemetry._settings import ShipperSettings

__all__ = ["DeliveryError", "KafkaTransport", "OnDelivery", "Transport"]

_log = logging.getLogger("leapfrog.telemetry.kafka")


@dataclass(frozen=True)
class DeliveryError:
    """Why Kafka did not take a record. `permanent`: sending it again cannot succeed."""

    reason: str
    permanent: bool = False


OnDelivery = Callable[[DeliveryError | None], None]


class Transport(Protocol):
    """What the shipper needs from a Kafka producer. Called from one thread only."""

    def produce(self, topic: str, key: bytes, value: bytes, on_delivery: OnDelivery) -> None:
        """Queue one record; `on_delivery` runs inside a later `poll`. Raises BufferError
        when the local queue is full."""

    def poll(self, timeout: float) -> None:
        """Run due delivery reports, waiting up to `timeout` seconds for one."""

    def unreachable(self) -> bool:
        """True once if the client reported every broker down since the last call."""

    def purge(self) -> None:
        """Give up on every record not yet delivered: each gets a (retriable) failure."""

    def close(self) -> None: ...


# Errors about the record itself: sending it again fails the same way.
_PERMANENT = frozenset(
    {
        "MSG_SIZE_TOO_LARGE",
        "_MSG_SIZE_TOO_LARGE",
        "INVALID_MSG",
        "INVALID_MSG_SIZE",
        "INVALID_RECORD",
        "RECORD_LIST_TOO_LARGE",
        "CORRUPT_MESSAGE",
        "_INVALID_ARG",
        "INVALID_TOPIC_EXCEPTION",
        "TOPIC_AUTHORIZATION_FAILED",
    }
)
_UNREACHABLE = frozenset({"_ALL_BROKERS_DOWN", "_TRANSPORT", "_RESOLVE"})


class KafkaTransport:
    """One idempotent confluent_kafka Producer (acks=all): within this producer's life the
    broker discards the duplicates its own retries would create."""

    def __init__(self, settings: ShipperSettings) -> None:
        from confluent_kafka import Producer

        self._down = False
        self._fatal = False
        self._mask = _MaskingLogger(settings).mask
        self._config: dict[str, Any] = {
            "client.id": f"leapfrog-{settings.instance}",
            "compression.type": settings.compression,
            "linger.ms": settings.linger_ms,
            "message.timeout.ms": settings.message_timeout_ms,
            # Back within a second of the broker: the spool drains soon after it returns.
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 1000,
            "log.connection.close": False,
            **settings.kafka_options,
            "bootstrap.servers": settings.bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
            "error_cb": self._on_error,
            "logger": _MaskingLogger(settings),
        }
        self._new_producer: Callable[[], Any] = lambda: Producer(self._config)
        self._producer = self._new_producer()

    def produce(self, topic: str, key: bytes, value: bytes, on_delivery: OnDelivery) -> None:
        self._producer.produce(
            topic, value, key, on_delivery=lambda err, _msg: on_delivery(_error(err))
        )

    def poll(self, timeout: float) -> None:
        self._producer.poll(timeout)
        if self._fatal:
            # An idempotent producer that hit a fatal error refuses every record: its
            # records fail back to the shipper (which spools them) and a new one takes over.
            self._fatal = False
            self.purge()
            self._producer = self._new_producer()

    def unreachable(self) -> bool:
        down, self._down = self._down, False
        return down

    def purge(self) -> None:
        self._producer.purge(in_queue=True, in_flight=True, blocking=True)
        self._producer.poll(0)

    def close(self) -> None:
        self._producer.flush(0)

    def _on_error(self, err: Any) -> None:
        if err.name() in _UNREACHABLE:
            self._down = True
        if err.fatal():
            self._fatal = True
        _log.warning("kafka: %s", self._mask(err.str()))


class _MaskingLogger:
    """librdkafka's log lines, with the values of the user's Kafka options blanked out:
    librdkafka quotes option values in some warnings, and those may be secrets."""

    def __init__(self, settings: ShipperSettings) -> None:
        self._secrets = sorted(
            (v for v in settings.kafka_options.values() if len(v) >= 4), key=len, reverse=True
        )

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def log(self, level: int, msg: str, *args: object) -> None:
        _log.log(level, self.mask(msg % args if args else msg))


def _error(err: Any) -> DeliveryError | None:
    if err is None:
        return None
    return DeliveryError(err.str(), permanent=err.name() in _PERMANENT)
