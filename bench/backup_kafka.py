"""Kafka backup and restore: `leapfrog.backup`'s records backup against a raw consumer
reading the same topic into a file, in the same run.

The data: one topic of `--partitions` (4) partitions holding `--size-mb` (1024) of
records of `--record-bytes` (1024) each, and a consumer group with committed offsets.
Both sides use librdkafka (confluent_kafka) from Python. The raw consumer assigns every
partition from its start, reads until each partition's high watermark and writes each
record as `partition, key length, value length, key, value` to a file: the least work
that copies the records out. The driver's figure covers what a backup is: the groups,
topic configs and watermarks, every record with its key, value, headers, timestamp and
offset, a hash per partition, the objects with sha256 (zstd unless --no-compress) and
read back. Verification (a scratch broker, every record produced again and compared)
is timed separately.

Restore into the running broker: by hand, the topic deleted and created again and the
file's records produced back (linger 20 ms, acks=all); leapfrog, `Engine.restore`
(topics recreated with their configs, records produced in order by an idempotent
producer with their timestamps, end offsets checked, group offsets committed).

    .venv/bin/python bench/backup_kafka.py [--size-mb 1024] [--rounds 2] [--json]
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from _shared import (
    BenchError,
    backup_args,
    backup_rounds,
    compared,
    emit,
    engine_for,
    loadavg,
    progress,
    restore_rounds,
    run_bench,
    succeeded,
    verify_seconds,
)
from leapfrog.shared.ports import free_port
from leapfrog.testing import RunningComponent, run_component

ADDRESS = "127.0.0.63"
TOPIC = "bench-events"
GROUP = "bench-group"
_FRAME = struct.Struct(">iii")


def _bootstrap(kafka: RunningComponent) -> str:
    return kafka.env()["KAFKA_BOOTSTRAP_SERVERS"]


def _producer(kafka: RunningComponent) -> Any:
    return Producer(
        {"bootstrap.servers": _bootstrap(kafka), "linger.ms": 20, "acks": "all", "log_level": 0}
    )


def _create(kafka: RunningComponent, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": _bootstrap(kafka)})
    existing = admin.list_topics(timeout=15).topics
    if TOPIC in existing:
        admin.delete_topics([TOPIC], operation_timeout=30)[TOPIC].result(30)
        while TOPIC in admin.list_topics(timeout=15).topics:
            time.sleep(0.05)
    while True:
        try:
            admin.create_topics([NewTopic(TOPIC, partitions, 1)])[TOPIC].result(30)
            return
        except Exception as exc:  # the deletion may still be under way
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
            time.sleep(0.1)


def _produce_all(producer: Any, records: Any) -> None:
    for partition, key, value in records:
        while True:
            try:
                producer.produce(TOPIC, value=value, key=key, partition=partition)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120) > 0:
        raise BenchError("records were not delivered within 120 s")


def fill(kafka: RunningComponent, size_mb: int, record: int, partitions: int) -> int:
    _create(kafka, partitions)
    count = size_mb * (1 << 20) // record
    half = record // 2
    # Half random, half repeated: compressible about 2:1, like much real traffic.
    _produce_all(
        _producer(kafka),
        (
            (i % partitions, f"k{i}".encode(), (block := os.urandom(half)) + block)
            for i in range(count)
        ),
    )
    consumer = Consumer(
        {"bootstrap.servers": _bootstrap(kafka), "group.id": GROUP, "enable.auto.commit": False}
    )
    offsets = [TopicPartition(TOPIC, p, count // partitions // 2) for p in range(partitions)]
    deadline = time.monotonic() + 60
    while True:
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
            break
        except KafkaException as exc:  # the group coordinator may still be loading
            error = exc.args[0]
            # librdkafka flags neither a loading coordinator nor one not elected yet
            # (a broker that just started) as retriable for a commit.
            loading = error.code() in {
                KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                KafkaError.NOT_COORDINATOR,
            }
            if not (error.retriable() or loading) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    consumer.close()
    return count


def native_backup(kafka: RunningComponent, target: Path, partitions: int) -> int:
    """A raw consumer: every partition from its start to its high watermark, to a file."""
    consumer = Consumer(
        {
            "bootstrap.servers": _bootstrap(kafka),
            "group.id": "bench-raw",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "log_level": 0,
        }
    )
    try:
        highs = {
            p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=15)[1]
            for p in range(partitions)
        }
        consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(partitions)])
        open_partitions = {p for p, high in highs.items() if high > 0}
        written = 0
        with target.open("wb") as out:
            while open_partitions:
                for message in consumer.consume(num_messages=1000, timeout=1.0):
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            open_partitions.discard(message.partition())
                            continue
                        raise BenchError(f"raw consumer: {error.str()}")
                    key, value = message.key() or b"", message.value() or b""
                    out.write(_FRAME.pack(message.partition(), len(key), len(value)))
                    out.write(key)
                    out.write(value)
                    written += len(value) + len(key)
                    partition, offset = message.partition() or 0, message.offset() or 0
                    if offset >= highs[partition] - 1:
                        open_partitions.discard(partition)
            out.flush()
            os.fsync(out.fileno())
    finally:
        consumer.close()
    return written


def _frames(path: Path) -> Any:
    with path.open("rb") as stream:
        while head := stream.read(_FRAME.size):
            partition, key_len, value_len = _FRAME.unpack(head)
            yield partition, stream.read(key_len), stream.read(value_len)


def native_restore(kafka: RunningComponent, source: Path, partitions: int) -> None:
    _create(kafka, partitions)
    _produce_all(_producer(kafka), _frames(source))


def main() -> int:
    parser = backup_args(__doc__ or "", size_mb=1024)
    parser.add_argument("--record-bytes", type=int, default=1024)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lf-bench-kafka-"))
    base.chmod(0o755)
    options = {"port": free_port(ADDRESS), "controller_port": free_port(ADDRESS)}
    result: dict[str, object] = {"store": "kafka", "loadavg_before": loadavg()}
    try:
        with run_component("kafka", options, base, address=ADDRESS) as kafka:
            progress(f"filling {args.size_mb} MB ...")
            records = fill(kafka, args.size_mb, args.record_bytes, args.partitions)
            engine = engine_for(kafka, base / "backups")
            copy = base / "raw-consumer.bin"
            cpu: dict[str, list[float]] = {}
            ours, theirs, manifest, payload = backup_rounds(
                engine,
                args.rounds,
                not args.no_compress,
                lambda: native_backup(kafka, copy, args.partitions),
                cpu,
            )
            mb = payload / (1 << 20)
            verify_s = verify_seconds(engine)
            ours_restore, theirs_restore = restore_rounds(
                args.rounds,
                lambda: native_restore(kafka, copy, args.partitions),
                lambda: succeeded(engine.restore(manifest, None)),
            )
        result |= {
            "records": records,
            "payload_mb": round(mb),
            "record_bytes": args.record_bytes,
            "compressed": not args.no_compress,
            "backup": compared(ours, theirs, "raw consumer to a file", mb),
            "backup_cpu_s": cpu,
            "verify_s": round(verify_s, 1),
            "restore": compared(ours_restore, theirs_restore, "raw producer from the file", mb),
            "loadavg_after": loadavg(),
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(main))
