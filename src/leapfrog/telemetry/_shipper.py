"""LogShipper: a bounded in-memory buffer, a worker thread, Kafka, and a disk spool.

The caller only appends to a deque. The worker encodes events and hands them to the
transport ("live") while Kafka takes them; once Kafka is found unreachable it appends
them to the spool instead, and keeps doing so until the spool has been delivered in
full, so that nothing newer ever overtakes a spooled record.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
from collections import deque
from functools import partial

from leapfrog.shared.errors import LeapfrogError
from leapfrog.telemetry._event import encode_event
from leapfrog.telemetry._settings import ShipperSettings
from leapfrog.telemetry._spool import Position, Spool
from leapfrog.telemetry._transport import DeliveryError, KafkaTransport, Transport

__all__ = ["LogShipper"]

_log = logging.getLogger("leapfrog.telemetry.shipper")
_BATCH = 2000  # records moved per round, so delivery reports are served in between
_DRAIN_WINDOW = 5000  # spooled records in flight at once while Kafka answers
_IDLE_WAIT = 0.02

Item = tuple[str, bytes, "bytes | dict[str, object]"]


class LogShipper:
    """Ships JSON log events and metric lines to Kafka without ever blocking the caller.

    `ship` and `ship_to` only append to a bounded deque (O(1), no lock); when it is full
    the NEWEST event is dropped and counted: what was accepted stays a gap-free prefix
    and the producer thread never contends with callers for a lock.
    """

    def __init__(self, settings: ShipperSettings, *, transport: Transport | None = None) -> None:
        self.settings = settings
        self.enabled = settings.enabled or transport is not None
        self._transport_arg = transport
        self._transport: Transport | None = None
        self._spool: Spool | None = None
        self._key = settings.instance.encode()
        self._topic = settings.log_topic
        self._max = settings.buffer_size
        self._queue: deque[Item] = deque()
        self._accepting = self.enabled
        self._drop_lock = threading.Lock()
        self._dropped = 0
        self._sent = 0
        self._spooled = 0
        self._pending = 0  # live records handed to the transport, not reported yet
        self._draining = 0  # spooled records handed to the transport, not reported yet
        self._drain_failed = False
        self._down = False
        self._spooling = False
        self._progress_at = time.monotonic()
        self._spool_backlog = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._close_deadline = 0.0
        self._closed = False

    # -- the caller's side ------------------------------------------------------------------

    def ship(self, event: dict[str, object]) -> None:
        """Queue one log event for the log topic. Never blocks, never raises."""
        if self._admits():
            self._queue.append((self._topic, self._key, event))

    def ship_to(self, topic: str, key: bytes | str | None, value_bytes: bytes) -> None:
        """Queue one ready-made record (a metrics snapshot, say) for `topic`; key None is
        the instance name. Never blocks, never raises."""
        if not self._admits():
            return
        raw_key = self._key if key is None else key.encode() if isinstance(key, str) else key
        self._queue.append((topic, raw_key, value_bytes))

    def _admits(self) -> bool:
        """Room for one more record; a refused one is counted as dropped."""
        if not self._accepting:
            if self.enabled:
                self._drop()
            return False
        if len(self._queue) >= self._max:
            self._drop()
            return False
        return True

    @property
    def counters(self) -> dict[str, int]:
        """sent: delivered to Kafka; spooled: written to the spool (in total); dropped: lost
        (buffer or spool full, refused by Kafka for good, shipped after close); buffered:
        in memory now, queued or in flight."""
        return {
            "sent": self._sent,
            "spooled": self._spooled,
            "dropped": self._dropped,
            "buffered": len(self._queue) + self._pending,
        }

    @property
    def spool_backlog_bytes(self) -> int:
        return self._spool_backlog

    @property
    def kafka_reachable(self) -> bool:
        return self.enabled and not self._down

    def start(self) -> None:
        """Open the spool (replaying what it holds) and start the worker thread."""
        if self._thread is not None or not self.enabled:
            return
        directory = self.settings.spool_dir
        if directory is not None:
            try:
                self._spool = Spool(
                    directory,
                    max_bytes=self.settings.spool_max_bytes,
                    segment_bytes=self.settings.spool_segment_bytes,
                    fsync_interval=self.settings.spool_fsync_interval,
                )
            except OSError as exc:
                raise LeapfrogError(
                    f"telemetry: cannot use the spool directory {directory}: {exc.strerror}",
                    hint="set LEAPFROG_SPOOL_DIR to a directory this process may write",
                ) from None
            self._spooling = not self._spool.empty
            self._spool_backlog = self._spool.backlog_bytes
        self._transport = self._transport_arg or _kafka_transport(self.settings)
        self._thread = threading.Thread(target=self._run, name="leapfrog-shipper", daemon=True)
        self._thread.start()
        atexit.register(self.close, 5.0)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver everything in memory to Kafka within `timeout` seconds, or else spool
        it; then stop. Events shipped afterwards are dropped."""
        if self._closed:
            return
        self._closed = True
        self._accepting = False
        atexit.unregister(self.close)
        if self._thread is None:
            if not self._queue:
                return
            self.start()
        assert self._thread is not None
        self._close_deadline = time.monotonic() + timeout
        self._stop.set()
        self._thread.join(timeout + 10)

    # -- the worker ---------------------------------------------------------------------------

    def _run(self) -> None:
        transport = self._transport
        assert transport is not None
        while True:
            try:
                stopping = self._stop.is_set()
                moved = self._move(_BATCH)
                transport.poll(0)
                self._watch(transport)
                if not stopping:
                    self._drain(transport)
                self._tend_spool()
                if stopping and not self._queue:
                    break
                if not moved:
                    transport.poll(_IDLE_WAIT)
            except Exception:  # the worker must outlive any bug: callers never notice
                _log.exception("telemetry: shipping round failed")
                time.sleep(0.5)
        self._finish(transport)

    def _move(self, limit: int) -> int:
        queue, transport = self._queue, self._transport
        assert transport is not None
        count = min(limit, len(queue))
        for _ in range(count):
            topic, key, payload = queue.popleft()
            value = payload if isinstance(payload, bytes) else encode_event(payload)
            if self._spooling:
                self._to_spool(topic, key, value)
                continue
            try:
                transport.produce(topic, key, value, partial(self._live_done, topic, key, value))
            except BufferError:  # the client's own queue is full: it is behind, not down
                transport.poll(0.1)
                if self._spool is None:
                    self._drop()
                    continue
                self._spooling = True  # from here on behind the spool, never ahead of it
                self._to_spool(topic, key, value)
                continue
            if self._pending == 0 and self._draining == 0:
                self._progress_at = time.monotonic()
            self._pending += 1
        return count

    def _live_done(self, topic: str, key: bytes, value: bytes, error: DeliveryError | None) -> None:
        self._pending -= 1
        if error is None:
            self._delivered()
            return
        if error.permanent:
            self._refused(error)
            return
        if self._spool is None:
            self._went_down(error.reason)
            self._drop()  # no spool configured: nowhere to keep it
            return
        self._went_down(error.reason)
        # Newer records may already be spooled: this one goes before them.
        if self._spool.append_front(topic, key, value):
            self._spooled += 1
        else:
            self._drop()

    def _drain(self, transport: Transport) -> None:
        spool = self._spool
        if spool is None or not self._spooling or self._pending:
            return
        spool.end_front()
        if self._drain_failed and self._draining == 0:
            spool.rewind()
            self._drain_failed = False
        # While Kafka seems down, one record in flight is the probe that finds it back.
        window = 1 if self._down else _DRAIN_WINDOW
        while self._draining < window and not self._drain_failed:
            record = spool.read()
            if record is None:
                break
            done = partial(self._drain_done, record.position)
            try:
                transport.produce(record.topic, record.key, record.value, done)
            except BufferError:
                self._drain_failed = True  # read again once what is in flight has settled
                break
            if self._draining == 0:
                self._progress_at = time.monotonic()
            self._draining += 1
        if self._draining == 0 and not self._down and spool.empty:
            self._spooling = False
            _log.info("telemetry: spool delivered, shipping directly again")

    def _drain_done(self, position: Position, error: DeliveryError | None) -> None:
        self._draining -= 1
        assert self._spool is not None
        if error is None:
            self._spool.ack(position)
            self._delivered()
        elif error.permanent:
            self._spool.ack(position)
            self._refused(error)
        else:
            self._went_down(error.reason)
            self._drain_failed = True

    def _watch(self, transport: Transport) -> None:
        if transport.unreachable():
            self._went_down("every broker is down")
        busy = self._pending or self._draining
        if busy and time.monotonic() - self._progress_at > self.settings.detect_timeout:
            self._went_down(f"no delivery for {self.settings.detect_timeout:g}s")

    def _delivered(self) -> None:
        self._sent += 1
        self._progress_at = time.monotonic()
        if self._down:
            self._down = False
            _log.info("telemetry: Kafka answers again")

    def _went_down(self, reason: str) -> None:
        if self._spool is not None:
            self._spooling = True
        if not self._down:
            self._down = True
            where = "spooling" if self._spool is not None else "no spool: records may be lost"
            _log.warning("telemetry: Kafka unreachable (%s): %s", reason, where)

    def _refused(self, error: DeliveryError) -> None:
        self._drop()
        _log.warning("telemetry: Kafka refused a record for good: %s", error.reason)

    def _to_spool(self, topic: str, key: bytes, value: bytes) -> None:
        assert self._spool is not None
        if self._spool.append(topic, key, value):
            self._spooled += 1
        else:
            self._drop()

    def _tend_spool(self) -> None:
        if self._spool is not None:
            self._spool.sync_if_due()
            self._spool_backlog = self._spool.backlog_bytes

    def _drop(self) -> None:
        with self._drop_lock:
            self._dropped += 1

    def _finish(self, transport: Transport) -> None:
        """Wait for what is in flight until the deadline (or until Kafka is seen down);
        then whatever is left goes to the spool."""
        while (self._pending or self._draining) and time.monotonic() < self._close_deadline:
            transport.poll(0.05)
            self._watch(transport)
            if self._down:
                break
        if self._pending or self._draining:
            transport.purge()
            transport.poll(0)
        if self._spool is not None:
            self._spool.end_front()
            self._spool_backlog = self._spool.backlog_bytes
            self._spool.close()
        with contextlib.suppress(Exception):
            transport.close()


def _kafka_transport(settings: ShipperSettings) -> Transport:
    try:
        return KafkaTransport(settings)
    except Exception as exc:  # librdkafka names the option it rejects
        text = str(exc)
        for value in settings.kafka_options.values():
            if len(value) >= 4:
                text = text.replace(value, "***")  # a rejected value may be a secret
        raise LeapfrogError(
            f"telemetry: the Kafka producer rejected its configuration: {text}",
            hint="check LEAPFROG_LOG_COMPRESSION, LEAPFROG_LOG_* and LEAPFROG_KAFKA_* settings",
        ) from None
