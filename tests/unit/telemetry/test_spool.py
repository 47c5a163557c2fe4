"""The disk spool: order, confirmation, rewind, segments, size bound, torn tails, reopen."""

from __future__ import annotations

from pathlib import Path

from leapfrog.telemetry._spool import Spool


def spool(path: Path, **changes: int) -> Spool:
    options = {"max_bytes": 1 << 20, "segment_bytes": 4096, **changes}
    return Spool(path, fsync_interval=0.0, **options)


def read_all(s: Spool) -> list[bytes]:
    values = []
    while (record := s.read()) is not None:
        values.append(record.value)
        s.ack(record.position)
    return values


def test_records_come_back_in_order_across_segments(tmp_path: Path) -> None:
    s = spool(tmp_path)
    for n in range(200):
        assert s.append("logs", b"k", b"%04d" % n + b"x" * 60)
    assert len(list(tmp_path.glob("*.seg"))) > 2
    got = read_all(s)
    assert [int(v[:4]) for v in got] == list(range(200))
    assert s.empty
    assert not list(tmp_path.glob("*.seg"))


def test_unconfirmed_records_survive_a_reopen(tmp_path: Path) -> None:
    s = spool(tmp_path)
    for n in range(100):
        s.append("logs", b"k", b"%04d" % n + b"y" * 60)
    for _ in range(40):
        record = s.read()
        assert record is not None
        s.ack(record.position)
    s.read()  # read, never confirmed: it comes back after the reopen
    s.close()
    again = spool(tmp_path)
    assert [int(v[:4]) for v in read_all(again)] == list(range(40, 100))


def test_rewind_skips_records_confirmed_after_the_failed_one(tmp_path: Path) -> None:
    s = spool(tmp_path)
    for n in range(6):
        s.append("logs", b"k", b"%d" % n)
    records = [s.read() for _ in range(6)]
    assert all(r is not None for r in records)
    for r in records:
        assert r is not None
        if r.value not in (b"2", b"3"):
            s.ack(r.position)
    s.rewind()
    assert read_all(s) == [b"2", b"3"]
    assert s.empty


def test_front_records_are_read_before_the_rest(tmp_path: Path) -> None:
    s = spool(tmp_path)
    s.append("logs", b"k", b"new-1")
    s.append("logs", b"k", b"new-2")
    s.append_front("logs", b"k", b"old-1")
    s.append_front("logs", b"k", b"old-2")
    s.end_front()
    s.close()
    assert read_all(spool(tmp_path)) == [b"old-1", b"old-2", b"new-1", b"new-2"]


def test_the_size_bound_refuses_new_records(tmp_path: Path) -> None:
    s = spool(tmp_path, max_bytes=4096, segment_bytes=4096)
    accepted = sum(s.append("logs", b"k", b"z" * 100) for _ in range(100))
    assert 0 < accepted < 100
    assert s.size <= 4096
    assert len(read_all(s)) == accepted


def test_a_torn_tail_is_cut_off_on_open(tmp_path: Path) -> None:
    s = spool(tmp_path)
    for n in range(3):
        s.append("logs", b"k", b"%d" % n)
    s.close()
    (segment,) = tmp_path.glob("*.seg")
    with open(segment, "ab") as handle:
        handle.write(b"\x00\x00\x01\x00garbage")
    assert read_all(spool(tmp_path)) == [b"0", b"1", b"2"]


def test_topics_and_keys_are_kept(tmp_path: Path) -> None:
    s = spool(tmp_path)
    s.append("metrics", b"hello-1", b"cpu value=1.0 1")
    record = s.read()
    assert record is not None
    assert (record.topic, record.key, record.value) == ("metrics", b"hello-1", b"cpu value=1.0 1")
