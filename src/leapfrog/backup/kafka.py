"""The Kafka 4.x driver: records, topic configurations and consumer-group offsets.

Backup, with a real client (librdkafka):
1. every consumer group's committed offsets, then each partition's low and high
   watermark: the backup holds each partition's records from low to high, so every
   committed offset is inside (or at the end of) what is backed up;
2. each partition read with `read_committed` (records of aborted transactions are
   not backed up) into one object `records~<topic>~<partition>` (`_kafka_records`):
   key, value, headers, timestamp and the original offset of every record;
3. `topics.json` (partitions, replication factor, the topic's own configs, not the
   broker's defaults) and `groups.json` (each group's committed offset per partition,
   and that offset mapped onto the backup: how many backed-up records come before it).

Every topic whose name does not start with `__` is backed up, or the chosen ones
(`--topic`, names or patterns); a cluster with no such topic fails the run (nothing to
back up). Restore deletes the backed-up (or chosen) topics that exist, recreates them
with their configs, produces the records (idempotent producer, in order, with their
timestamps) so that record i of a partition gets offset i, checks each partition's
end offset is its record count, and commits each group's mapped offsets: a group that
had processed N records resumes at record N+1. Verify does the same into a scratch
broker (the same component on free ports) and compares record counts and hashes per
partition and the groups' offsets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from leapfrog.backup._kafka_records import RecordHash, append, decode
from leapfrog.backup._objects import prefetched
from leapfrog.backup._scratch import scratch_instance
from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import (
    BackupDriver,
    BackupError,
    Sink,
    Source,
    Store,
    Taken,
    Verified,
    pick,
)
from leapfrog.backup.manifest import Manifest
from leapfrog.backup.storage import Storage
from leapfrog.components._kafka_admin import admin_client, committed_offsets
from leapfrog.shared.ports import free_port

__all__ = ["KafkaDriver"]

_TIMEOUT = 15.0
_BATCH = 1 << 20
_CONSUME = 1_000
_FETCH = 8 << 20
_POLL_EVERY = 1_000
_RECREATE_WAIT = 60.0
_TOPICS = "topics.json"
_GROUPS = "groups.json"
_OFFSETS_TOPIC = "__consumer_offsets"
_PREFIX = "records~"  # a topic name may start with a dot; an object name may not


def _bootstrap(address: str, port: int) -> str:
    return f"{address}:{port}"


def _object(topic: str, partition: int) -> str:
    return f"{_PREFIX}{topic}~{partition}"


def _key(topic: str, partition: int) -> str:
    return f"{topic}~{partition}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _consumer(bootstrap: str) -> Any:
    from confluent_kafka import Consumer

    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "leapfrog-backup",  # required by the client; never joined nor committed
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            # One partition is read at a time: fetches of up to 8 MiB instead of the
            # default 1 MiB a partition, so each answer brings as much as a fetch of
            # every partition at once would.
            "max.partition.fetch.bytes": _FETCH,
            "log_level": 0,
        }
    )


@dataclass
class _Cluster:
    """What is read from the cluster before its records."""

    topics: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, int]]
    watermarks: dict[tuple[str, int], tuple[int, int]]


def _read_cluster(
    bootstrap: str,
    name: str,
    also_groups: tuple[str, ...] = (),
    choose: Callable[[list[str]], list[str]] = sorted,
) -> _Cluster:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin._config import ConfigResource, ConfigSource

    admin = admin_client(bootstrap, _TIMEOUT)
    try:
        metadata = admin.list_topics(timeout=_TIMEOUT)
    except Exception as exc:
        raise BackupError(
            f"Kafka {name} is not answering at {bootstrap}: {_first_line(exc)}",
            hint="start it (`leapfrog up`) and run the backup again",
        ) from None
    if not metadata.brokers:
        raise BackupError(f"Kafka {name} is not answering at {bootstrap}: no broker registered")
    topics: dict[str, dict[str, Any]] = {}
    for topic in choose([t for t in metadata.topics if not t.startswith("__")]):
        parts = metadata.topics[topic].partitions
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        described: Any = admin.describe_configs([resource])[resource].result(timeout=_TIMEOUT)
        configs = {
            key: entry.value
            for key, entry in described.items()
            if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        }
        replicas = max((len(p.replicas) for p in parts.values()), default=1)
        topics[topic] = {"partitions": len(parts), "replication": replicas, "configs": configs}
    names = sorted(set(_group_names(admin)) | set(also_groups))
    until = time.monotonic() + _RECREATE_WAIT
    partitions = [(topic, p) for topic, spec in topics.items() for p in range(spec["partitions"])]
    groups = {g: found for g in names if (found := _group_offsets(bootstrap, g, partitions, until))}
    consumer = _consumer(bootstrap)
    try:
        watermarks = {
            (topic, p): _watermarks(consumer, TopicPartition(topic, p))
            for topic, spec in topics.items()
            for p in range(spec["partitions"])
        }
    finally:
        consumer.close()
    return _Cluster(topics, groups, watermarks)


def _watermarks(consumer: Any, tp: Any) -> tuple[int, int]:
    """A partition's low and high watermark; retried while the broker answers with a
    retriable error (a broker that just started has not elected its leaders yet)."""
    from confluent_kafka import KafkaError, KafkaException

    electing = {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
    }
    deadline = time.monotonic() + _TIMEOUT
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=_TIMEOUT, cached=False)
            return int(low), int(high)
        except KafkaException as exc:
            error: Any = exc.args[0] if exc.args else None
            retry = isinstance(error, KafkaError) and (
                error.retriable() or error.code() in electing
            )
            if not retry or time.monotonic() > deadline:
                raise BackupError(
                    f"reading the offsets of {tp.topic}[{tp.partition}]: {_first_line(exc)}"
                ) from None
            time.sleep(0.5)


def _java_hash(text: str) -> int:
    """Java's `String.hashCode`, by which Kafka puts a group in a coordinator partition."""
    h = 0
    for unit in text.encode("utf-16-be").hex(" ", 2).split():
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    return h


def _await_coordinators(admin: Any, deadline: float) -> None:
    """Wait until the group coordinator has loaded every `__consumer_offsets` partition.
    A broker lists only the groups of the partitions it has loaded, silently: right
    after a start it would list fewer. One probe group per partition (never created:
    only described) answers COORDINATOR_LOAD_IN_PROGRESS (or NOT_COORDINATOR) until its
    partition is loaded. Described, not asked for its offsets: see `committed_offsets`."""
    offsets = admin.list_topics(timeout=_TIMEOUT).topics.get(_OFFSETS_TOPIC)
    if offsets is None:
        return  # no group ever committed
    count = len(offsets.partitions)
    probes: dict[int, str] = {}
    i = 0
    while len(probes) < count:
        name = f"leapfrog-backup-probe-{i}"
        probes.setdefault((_java_hash(name) & 0x7FFFFFFF) % count, name)
        i += 1
    waiting = sorted(probes.values())
    while True:
        problems: list[str] = []
        answers = admin.describe_consumer_groups(waiting, request_timeout=_TIMEOUT)
        for name, future in answers.items():
            try:
                future.result(timeout=_TIMEOUT)
            except Exception as exc:
                problems.append(f"{name}: {_first_line(exc)}")
        if not problems:
            return
        starting = all(any(s in why for s in _STILL_STARTING) for why in problems)
        if not starting or time.monotonic() > deadline:
            raise BackupError(f"the group coordinator is not ready: {problems[0]}")
        waiting = [why.partition(":")[0] for why in problems]
        time.sleep(0.5)


def _group_names(admin: Any) -> list[str]:
    """Every consumer group, once the coordinator has loaded them all; failed rather
    than a backup that silently misses a group."""
    deadline = time.monotonic() + _RECREATE_WAIT
    _await_coordinators(admin, deadline)
    while True:
        listed = admin.list_consumer_groups().result(timeout=_TIMEOUT)
        if not listed.errors:
            return [g.group_id for g in listed.valid]
        if time.monotonic() > deadline:
            why = _first_line(listed.errors[0])
            raise BackupError(f"the broker could not list its consumer groups: {why}")
        time.sleep(0.5)


def _group_offsets(
    bootstrap: str, group: str, partitions: Sequence[tuple[str, int]], deadline: float
) -> dict[str, int]:
    """A group's committed offsets in `partitions`, by `topic~partition`. While the group
    coordinator is still loading (a broker that just started), the answer is an error,
    never offsets to leave out: retried, then failed."""
    while True:
        try:
            found = committed_offsets(bootstrap, group, partitions, _TIMEOUT)
        except Exception as exc:
            why = _first_line(exc)
            starting = any(s in why for s in _STILL_STARTING)
            if not starting or time.monotonic() > deadline:
                raise BackupError(
                    f"could not read the committed offsets of group {group}: {why}"
                ) from None
            time.sleep(0.5)
            continue
        return {_key(topic, p): offset for (topic, p), offset in found.items()}


class _PartitionReader:
    """One partition's records from `low` to `high`, encoded, with their hash and the
    position in the backup of each committed offset of interest."""

    def __init__(self, consumer: Any, tp: tuple[str, int], span: tuple[int, int]) -> None:
        self._consumer = consumer
        self._tp = tp
        self._low, self._high = span
        self.hash = RecordHash()
        self.first: int | None = None
        self.last: int | None = None
        self._thresholds: list[int] = []
        self.mapped: dict[int, int] = {}

    def want(self, offsets: list[int]) -> None:
        self._thresholds = sorted(set(offsets))

    def _passed(self, offset: int) -> None:
        while self._thresholds and self._thresholds[0] <= offset:
            self.mapped[self._thresholds.pop(0)] = self.hash.count

    def chunks(self, run: RunControl) -> Iterator[bytes]:
        from confluent_kafka import KafkaError, TopicPartition

        topic, partition = self._tp
        self._consumer.assign([TopicPartition(topic, partition, self._low)])
        batch = bytearray()
        hashed = bytearray()  # what the hash covers, added once per consumed batch
        done = self._high <= self._low
        high = self._high
        consume = self._consumer.consume
        # The per-record loop is the backup's hot path: locals only, one call to encode.
        while not done:
            run.check()
            records = 0
            last = -1
            threshold = self._thresholds[0] if self._thresholds else high
            for message in consume(num_messages=_CONSUME, timeout=1.0):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        done = True
                        continue
                    raise BackupError(f"reading {topic}[{partition}]: {error.str()}")
                offset = message.offset()
                if offset >= high:
                    done = True
                    continue
                if offset >= threshold:
                    self.hash.add_encoded(hashed, records)
                    hashed.clear()
                    records = 0
                    self._passed(offset)
                    threshold = self._thresholds[0] if self._thresholds else high
                ts_type, timestamp = message.timestamp()
                append(
                    batch,
                    hashed,
                    offset,
                    ts_type,
                    timestamp,
                    message.key(),
                    message.value(),
                    message.headers(),
                )
                records += 1
                if self.first is None:
                    self.first = offset
                last = offset
            self.hash.add_encoded(hashed, records)
            hashed.clear()
            if last >= 0:
                self.last = last
                done = done or last >= high - 1
            if len(batch) >= _BATCH:
                yield bytes(batch)
                batch.clear()
        self._consumer.unassign()
        for threshold in self._thresholds:
            self.mapped[threshold] = self.hash.count
        if batch:
            yield bytes(batch)


class KafkaDriver(BackupDriver):
    kind: ClassVar[str] = "kafka"
    modes: ClassVar[tuple[str, ...]] = ("records",)
    chooses: ClassVar[str] = "topic"

    def backup(self, store: Store, mode: str, sink: Sink, run: RunControl) -> Taken:
        bootstrap = _bootstrap(store.where.address, store.where.port)
        name = store.where.instance

        def choose(topics: list[str]) -> list[str]:
            if not topics:
                raise BackupError(
                    f"Kafka {name} holds no topic to back up (topics starting with `__` "
                    "are the broker's own and are not backed up)"
                )
            return pick(topics, self.only, "topic", f"Kafka {name}")

        cluster = _read_cluster(bootstrap, name, choose=choose)
        run.progressed("read topics, groups and watermarks")
        partitions: dict[str, Any] = {}
        mapped: dict[str, dict[str, int]] = {group: {} for group in cluster.groups}
        consumer = _consumer(bootstrap)
        try:
            for (topic, p), span in sorted(cluster.watermarks.items()):
                key = _key(topic, p)
                reader = _PartitionReader(consumer, (topic, p), span)
                wanted = {g: c[key] for g, c in cluster.groups.items() if key in c}
                reader.want(list(wanted.values()))
                if span[1] > span[0]:
                    # Records shrink as much at zstd's lightest level (see `Sink.put`).
                    sink.put(_object(topic, p), reader.chunks(run), light=True)
                else:
                    list(reader.chunks(run))
                partitions[key] = {
                    **reader.hash.facts(),
                    "low": span[0],
                    "high": span[1],
                    "first": reader.first,
                    "last": reader.last,
                }
                for group, committed in wanted.items():
                    mapped[group][key] = reader.mapped[committed]
        finally:
            consumer.close()
        groups = {
            g: {"committed": cluster.groups[g], "restored": mapped[g]} for g in cluster.groups
        }
        sink.put(_TOPICS, [json.dumps(cluster.topics, sort_keys=True).encode()])
        sink.put(_GROUPS, [json.dumps(groups, sort_keys=True).encode()])
        return Taken(
            store_version=store.installation.version,
            position={f"{t}~{p}": str(hw[1]) for (t, p), hw in sorted(cluster.watermarks.items())},
            facts={"partitions": partitions, "groups": mapped, "topics": sorted(cluster.topics)},
        )

    def _chosen(self, manifest: Manifest) -> list[str]:
        held: list[str] = manifest.facts.get("topics", [])
        return pick(held, self.only, "topic", f"backup {manifest.id}")

    def position_summary(self, position: Mapping[str, str]) -> str:
        """`TOPIC~PARTITION: high watermark` for every partition: summed up per backup."""
        if not position:
            return ""
        topics = {key.rsplit("~", 1)[0] for key in position}
        total = sum(int(value) for value in position.values() if value.isdigit())
        return f"{len(topics)} topics, {len(position)} partitions, high watermarks sum {total}"

    def replaces(self, store: Store, manifest: Manifest, to: datetime | None) -> list[str]:
        topics = self._chosen(manifest)
        groups = _groups_of(manifest.facts.get("groups", {}), topics)
        return [
            f"deletes and recreates topics {', '.join(topics) or '(none)'} on "
            f"{store.where.instance}: records written since the backup are lost",
            f"sets the committed offsets of groups {', '.join(groups) or '(none)'} "
            "(their consumers must be stopped)",
            f"from backup {manifest.id} ({manifest.ended:%Y-%m-%d %H:%M:%S} UTC)",
        ]

    def restore(
        self, store: Store, source: Source, storage: Storage, to: datetime | None, run: RunControl
    ) -> str:
        if to is not None:
            raise BackupError("Kafka backups restore as they were; --to is not supported")
        bootstrap = _bootstrap(store.where.address, store.where.port)
        chosen = self._chosen(source.manifest)
        topics, records = _restore_into(bootstrap, store.where.instance, source, run, chosen)
        return (
            f"{store.where.instance}: {topics} topics ({', '.join(chosen)}), {records} records "
            "and the groups' "
            f"offsets restored from {source.manifest.id}"
        )

    def verify(
        self, store: Store, source: Source, storage: Storage, scratch: Path, run: RunControl
    ) -> Verified:
        address = store.local_address
        ports = {
            "port": free_port(address),
            "controller_port": free_port(address),
            "jmx_exporter_port": None,
        }
        with scratch_instance(store, scratch, run, ports) as (_options, where):
            bootstrap = _bootstrap(where.address, where.port)
            _restore_into(bootstrap, where.instance, source, run, None)
            groups = tuple(source.manifest.facts.get("groups", {}))
            found = _read_back(bootstrap, where.instance, groups, run)
        expected = {
            "partitions": {
                k: {"records": v["records"], "sha256": v["sha256"]}
                for k, v in source.manifest.facts.get("partitions", {}).items()
            },
            "groups": source.manifest.facts.get("groups", {}),
        }
        differences = [
            f"{what} {key}: expected {expected[what].get(key)}, found {found[what].get(key)}"
            for what in ("partitions", "groups")
            for key in sorted(set(expected[what]) | set(found[what]))
            if expected[what].get(key) != found[what].get(key)
        ]
        if differences:
            return Verified(False, "restored copy differs: " + "; ".join(differences[:10]), found)
        records = sum(v["records"] for v in found["partitions"].values())
        return Verified(
            True,
            f"restored into a scratch broker: {len(found['partitions'])} partitions "
            f"({records} records) and {len(found['groups'])} groups' offsets match the "
            "manifest (counts and hashes)",
            found,
        )


def _groups_of(groups: dict[str, dict[str, int]], topics: Sequence[str]) -> list[str]:
    """The groups with committed offsets in `topics` (keys `topic~partition`)."""
    return sorted(
        g for g, offsets in groups.items() if any(k.rpartition("~")[0] in topics for k in offsets)
    )


def _restore_into(
    bootstrap: str, name: str, source: Source, run: RunControl, chosen: Sequence[str] | None
) -> tuple[int, int]:
    """Restore the backup's topics (or the `chosen` ones) and their groups' offsets."""
    topics: dict[str, Any] = json.loads(b"".join(source.open(_TOPICS)))
    groups: dict[str, Any] = json.loads(b"".join(source.open(_GROUPS)))
    if chosen is not None:
        topics = {t: spec for t, spec in topics.items() if t in chosen}
        groups = {
            g: {
                "restored": {
                    k: v for k, v in spec["restored"].items() if k.rpartition("~")[0] in topics
                }
            }
            for g, spec in groups.items()
        }
    admin = admin_client(bootstrap, _TIMEOUT)
    try:
        existing = admin.list_topics(timeout=_TIMEOUT).topics
    except Exception as exc:
        raise BackupError(
            f"Kafka {name} is not answering at {bootstrap}: {_first_line(exc)}"
        ) from None
    present = [t for t in topics if t in existing]
    if present:
        for topic, future in admin.delete_topics(present, operation_timeout=_TIMEOUT).items():
            try:
                future.result(timeout=_TIMEOUT)
            except Exception as exc:
                raise BackupError(f"could not delete topic {topic}: {_first_line(exc)}") from None
    _create_topics(admin, topics, run)
    expected = {
        key
        for e in source.manifest.objects
        if e.name.startswith(_PREFIX)
        and (key := e.name.removesuffix(".zst").removeprefix(_PREFIX)).rpartition("~")[0] in topics
    }
    total = _produce(bootstrap, source, sorted(expected), run)
    _check_ends(bootstrap, source.manifest.facts.get("partitions", {}), topics)
    _commit_groups(admin, groups, run)
    run.progressed("group offsets committed")
    return len(topics), total


def _create_topics(admin: Any, topics: dict[str, Any], run: RunControl) -> None:
    from confluent_kafka.cimpl import NewTopic

    pending = dict(topics)
    deadline = time.monotonic() + _RECREATE_WAIT
    while pending:
        run.check()
        new = [
            NewTopic(t, spec["partitions"], spec["replication"], config=spec["configs"])
            for t, spec in pending.items()
        ]
        for topic, future in admin.create_topics(new, operation_timeout=_TIMEOUT).items():
            try:
                future.result(timeout=_TIMEOUT)
                pending.pop(topic)
            except Exception as exc:
                # A deleted topic is removed in the background; its name frees up soon.
                retry = "TOPIC_ALREADY_EXISTS" in str(exc) or "marked for deletion" in str(exc)
                if not retry or time.monotonic() > deadline:
                    raise BackupError(
                        f"could not create topic {topic}: {_first_line(exc)}"
                    ) from None
        if pending:
            time.sleep(0.1)  # a deleted topic's name is usually free within moments
    run.progressed("topics created")


def _produce(bootstrap: str, source: Source, partitions: list[str], run: RunControl) -> int:
    from confluent_kafka import Producer

    errors: list[str] = []

    def failed(err: Any, _msg: Any) -> None:
        if err is not None and len(errors) < 5:
            errors.append(str(err))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,  # in order and once each, across retries
            "acks": "all",
            "linger.ms": 20,
            # Only failures are reported (a Python call per delivered record otherwise);
            # _check_ends then proves every record arrived, at its own offset.
            "on_delivery": failed,
            "delivery.report.only.error": True,
            "log_level": 0,
        }
    )
    produce, poll = producer.produce, producer.poll
    total = 0
    for key in partitions:
        topic, _, number = key.rpartition("~")
        partition = int(number)
        # Read, checked and decompressed in a thread of its own while records are sent.
        for record in decode(prefetched(source.open(_PREFIX + key))):
            headers = record.headers
            while True:
                try:
                    if headers:
                        produce(
                            topic,
                            record.value,
                            record.key,
                            partition,
                            timestamp=max(record.timestamp, 0),  # 0: the broker's time
                            headers=list(headers),
                        )
                    else:
                        produce(
                            topic,
                            record.value,
                            record.key,
                            partition,
                            timestamp=max(record.timestamp, 0),
                        )
                    break
                except BufferError:
                    poll(0.1)
            total += 1
            if total % _POLL_EVERY == 0:
                poll(0)
                run.check()
                if total % 10_000 == 0:
                    run.progressed(f"produced {total} records")
    # One flush at the end: the next partition's records go out while the previous
    # one's last batches are in flight (each partition stays in order: idempotence).
    while producer.flush(1.0) > 0:
        run.check()
    if errors:
        raise BackupError(f"producing the restored records failed: {'; '.join(errors)}")
    run.progressed(f"produced {total} records")
    return total


def _check_ends(bootstrap: str, partitions: dict[str, Any], topics: dict[str, Any]) -> None:
    """Record i must be at offset i, or the groups' mapped offsets would be wrong."""
    from confluent_kafka import TopicPartition

    consumer = _consumer(bootstrap)
    try:
        for topic, spec in topics.items():
            for p in range(spec["partitions"]):
                want = partitions.get(_key(topic, p), {}).get("records", 0)
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=_TIMEOUT, cached=False
                )
                if (low, high) != (0, want):
                    raise BackupError(
                        f"restored {topic}[{p}] spans offsets {low}..{high}, expected 0..{want}"
                    )
    finally:
        consumer.close()


_COORDINATOR_STARTING = (
    "NOT_COORDINATOR",
    "COORDINATOR_LOAD_IN_PROGRESS",
    "COORDINATOR_NOT_AVAILABLE",
)
_STILL_STARTING = (*_COORDINATOR_STARTING, "_TIMED_OUT")
"""What reading a group answers while its coordinator loads: the client retries inside
its timeout, and says so when that runs out."""


def _commit_groups(admin: Any, groups: dict[str, Any], run: RunControl) -> None:
    for group, spec in groups.items():
        offsets = sorted(spec["restored"].items())
        if not offsets:
            continue
        deadline = time.monotonic() + _RECREATE_WAIT
        while refused := _commit_group(admin, group, offsets):
            # A new cluster creates __consumer_offsets on first use and loads it.
            starting = all(any(s in why for s in _COORDINATOR_STARTING) for why in refused)
            if not starting or time.monotonic() > deadline:
                raise BackupError(
                    f"could not set the offsets of group {group}: {'; '.join(refused[:3])}",
                    hint="stop the group's consumers and restore again",
                )
            run.check()
            time.sleep(0.5)


def _commit_group(admin: Any, group: str, offsets: list[tuple[str, int]]) -> list[str]:
    """Why the broker refused to set the group's offsets; [] when it set them all."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    partitions = [
        TopicPartition(key.rpartition("~")[0], int(key.rpartition("~")[2]), offset)
        for key, offset in offsets
    ]
    request = [ConsumerGroupTopicPartitions(group, partitions)]
    try:
        answer = admin.alter_consumer_group_offsets(request)[group].result(timeout=_TIMEOUT)
    except Exception as exc:
        return [_first_line(exc)]
    return [f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in answer.topic_partitions if tp.error]


def _read_back(
    bootstrap: str, name: str, groups: tuple[str, ...], run: RunControl
) -> dict[str, Any]:
    """Record counts and hashes per partition and the groups' offsets, as verify compares."""
    cluster = _read_cluster(bootstrap, name, groups)
    consumer = _consumer(bootstrap)
    partitions: dict[str, Any] = {}
    try:
        for (topic, p), span in sorted(cluster.watermarks.items()):
            reader = _PartitionReader(consumer, (topic, p), span)
            for _chunk in reader.chunks(run):
                pass
            partitions[_key(topic, p)] = reader.hash.facts()
    finally:
        consumer.close()
    return {"partitions": partitions, "groups": cluster.groups}
