"""reader: a Kafka consumer group on `events` that keeps what it reads in PostgreSQL.

Offsets are committed only after the events are stored, and storing is idempotent (the
event id is the key), so a restart or a rebalance never counts an event twice. More
replicas share the partitions. GET /events/count and /events/recent read the table.
Its catalog check is TTL: the consumer's own health is what it reports.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from leapfrog.service import Service

TOPIC = os.environ.get("EVENTS_TOPIC", "events")
GROUP = os.environ.get("READER_GROUP", "reader")
DATABASE_URL = os.environ.get("DATABASE_URL", "")
log = logging.getLogger("reader")
_REBALANCING = (
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError._NO_OFFSET,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS reader_events (
    seq bigserial, id text PRIMARY KEY, type text NOT NULL, data jsonb NOT NULL,
    kafka_partition int NOT NULL, kafka_offset bigint NOT NULL, read_by text NOT NULL,
    read_at timestamptz NOT NULL DEFAULT now()
)"""
INSERT = """
INSERT INTO reader_events (id, type, data, kafka_partition, kafka_offset, read_by)
VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"""
SCHEMA_LOCK = 0x7265_6164  # any number the instances agree on: "read"


class Reader:
    """The consume - store - commit loop, on a thread of its own."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.stored = 0
        self.thread = threading.Thread(target=self._run, name="reader", daemon=True)

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"],
                "group.id": GROUP,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "cooperative-sticky",
                # A reader that died without leaving is replaced after 10s, not 45s.
                "session.timeout.ms": 10000,
                "heartbeat.interval.ms": 2000,
            }
        )
        consumer.subscribe([TOPIC])
        try:
            with psycopg.connect(DATABASE_URL) as db:
                while not self.stopping.is_set():
                    messages = consumer.consume(500, timeout=0.5)
                    batch = [m for m in messages if self._usable(m)]
                    if not batch:
                        continue
                    with db.transaction(), db.cursor() as cur:
                        cur.executemany(INSERT, [self._row(m) for m in batch])
                    self.stored += len(batch)
                    self._commit(consumer)
                    service.health.ok(f"stored {self.stored} events")
        except Exception as exc:  # reported to the catalog, then restarted by leapfrog
            log.exception("the consumer stopped")
            service.health.fail(f"consumer stopped: {exc}")
            consumer.close()  # leave the group now, so the partitions move at once
            os._exit(1)  # leapfrog restarts us; the committed offsets say where to resume
        consumer.close()

    @staticmethod
    def _commit(consumer: Any) -> None:
        """Commit what was stored. A rebalance can refuse it; the stored rows stay, and
        whoever gets the partitions reads them again and skips them (same ids)."""
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            code = exc.args[0].code() if exc.args else None
            if code not in _REBALANCING:
                raise
            log.info("offsets not committed during a rebalance: %s", exc.args[0].str())

    def _usable(self, message: Any) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer: %s", error)
        return False

    @staticmethod
    def _row(message: Any) -> tuple[Any, ...]:
        event = json.loads(message.value())
        instance = os.environ.get("LEAPFROG_INSTANCE", "reader")
        data = json.dumps(event.get("data", {}))
        return (event["id"], event["type"], data, message.partition(), message.offset(), instance)


def query(sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(DATABASE_URL) as db:
        return db.execute(sql, args).fetchall()


async def count(request: Request) -> JSONResponse:
    rows = await run_in_threadpool(query, "SELECT count(*), count(DISTINCT id) FROM reader_events")
    return JSONResponse({"count": rows[0][0], "distinct": rows[0][1]})


async def recent(request: Request) -> JSONResponse:
    try:
        n = max(1, min(int(request.query_params.get("n", "10")), 1000))
    except ValueError:
        return JSONResponse({"error": "n: expected a number between 1 and 1000"}, 400)
    rows = await run_in_threadpool(
        query, "SELECT id, type, data, read_by FROM reader_events ORDER BY seq DESC LIMIT %s", n
    )
    events = [{"id": r[0], "type": r[1], "data": r[2], "read_by": r[3]} for r in rows]
    return JSONResponse({"events": events})


def create_schema() -> None:
    # The instances start together, and two concurrent CREATE TABLE IF NOT EXISTS can
    # still collide (a unique violation on the table's row type), so they take turns.
    with psycopg.connect(DATABASE_URL) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        conn.execute(SCHEMA)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await run_in_threadpool(create_schema)
    reader = Reader()
    reader.thread.start()
    yield
    reader.stopping.set()
    await run_in_threadpool(reader.thread.join, 10)


app = Starlette(
    routes=[Route("/events/count", count), Route("/events/recent", recent)], lifespan=lifespan
)
service = Service(app, "reader", check="ttl")

if __name__ == "__main__":
    service.run()
