"""The Kafka records' framing in a backup object and the hash verify compares."""

from __future__ import annotations

import pytest

from leapfrog.backup._kafka_records import Record, RecordHash, append, decode, encode
from leapfrog.backup.driver import BackupError

RECORDS = [
    Record(10, 0, 1_700_000_000_000, b"k", b"v", (("h", b"1"), ("h", None), ("bin", b"\0\xff"))),
    Record(11, 1, 5, None, None),
    Record(13, 0, 7, b"", b"", (("", b""),)),
]


def test_records_survive_any_chunking() -> None:
    data = b"".join(encode(r) for r in RECORDS)
    for size in (1, 3, 7, len(data)):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert list(decode(chunks)) == RECORDS
    assert list(decode([])) == []


def test_a_cut_record_is_an_error_not_a_shorter_partition() -> None:
    data = b"".join(encode(r) for r in RECORDS)
    with pytest.raises(BackupError, match="truncated"):
        list(decode([data[:-1]]))


def test_the_hash_ignores_offsets_and_sees_everything_else() -> None:
    def digest(records: list[Record]) -> dict[str, int | str]:
        hashed = RecordHash()
        for record in records:
            hashed.add(record)
        return hashed.facts()

    moved = [Record(i, 0, r.timestamp, r.key, r.value, r.headers) for i, r in enumerate(RECORDS)]
    assert digest(moved) == digest(RECORDS)
    assert digest(RECORDS)["records"] == 3
    changed = [*RECORDS[:2], Record(13, 0, 7, b"", None, (("", b""),))]  # "" vs null value
    assert digest(changed) != digest(RECORDS)
    reordered = [RECORDS[1], RECORDS[0], RECORDS[2]]
    assert digest(reordered) != digest(RECORDS)


def test_batches_appended_encode_and_hash_as_one_by_one() -> None:
    out, hashed = bytearray(), bytearray()
    for r in RECORDS:
        append(out, hashed, r.offset, r.timestamp_type, r.timestamp, r.key, r.value, r.headers)
    assert bytes(out) == b"".join(encode(r) for r in RECORDS)
    batched, single = RecordHash(), RecordHash()
    batched.add_encoded(hashed, len(RECORDS))
    for r in RECORDS:
        single.add(r)
    assert batched.facts() == single.facts()


def test_a_record_across_many_chunks_after_whole_ones() -> None:
    big = Record(1, 0, 9, b"k" * 3000, b"v" * 70_000, (("h", b"x" * 500),))
    data = b"".join(encode(r) for r in [*RECORDS, big, *RECORDS])
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    assert list(decode(chunks)) == [*RECORDS, big, *RECORDS]
