"""LogShipper's own logic with an in-memory transport: buffering, spooling, order, replay."""

from __future__ import annotations

import json
from pathlib import Path

from leapfrog.telemetry import DeliveryError, LogShipper, ShipperSettings
from tests.unit.telemetry.fake import FakeTransport, wait_for


def settings(tmp_path: Path | None, **changes: object) -> ShipperSettings:
    base = ShipperSettings(
        service="hello",
        instance="hello-1",
        host="box",
        bootstrap_servers="fake:9092",
        spool_dir=None if tmp_path is None else tmp_path / "spool",
        detect_timeout=0.2,
        spool_fsync_interval=0.01,
    )
    return base.with_options(**changes)


def seqs(fake: FakeTransport) -> list[int]:
    return [json.loads(v)["seq"] for v in fake.values()]


def test_events_reach_the_transport_in_order_keyed_by_instance(tmp_path: Path) -> None:
    fake = FakeTransport()
    shipper = LogShipper(settings(tmp_path), transport=fake)
    shipper.start()
    for seq in range(100):
        shipper.ship({"seq": seq, "message": "hi"})
    shipper.ship_to("metrics", None, b"cpu value=1.0 1")
    shipper.close(timeout=5)
    assert seqs(fake) == list(range(100))
    assert {key for _t, key, _v in fake.delivered} == {b"hello-1"}
    assert fake.values("metrics") == [b"cpu value=1.0 1"]
    assert shipper.counters == {"sent": 101, "spooled": 0, "dropped": 0, "buffered": 0}


def test_a_full_buffer_drops_the_newest_and_counts_them() -> None:
    fake = FakeTransport()
    shipper = LogShipper(settings(None, buffer_size=5), transport=fake)
    for seq in range(8):
        shipper.ship({"seq": seq})
    assert shipper.counters["dropped"] == 3
    assert shipper.counters["buffered"] == 5
    shipper.start()
    shipper.close(timeout=5)
    assert seqs(fake) == [0, 1, 2, 3, 4]
    shipper.ship({"seq": 99})  # after close: dropped, never raised
    assert shipper.counters == {"sent": 5, "spooled": 0, "dropped": 4, "buffered": 0}


def test_shipping_is_disabled_without_bootstrap_servers() -> None:
    shipper = LogShipper(settings(None, bootstrap_servers=None))
    assert not shipper.enabled
    shipper.start()
    shipper.ship({"seq": 1})
    shipper.close()
    assert shipper.counters == {"sent": 0, "spooled": 0, "dropped": 0, "buffered": 0}


def test_an_outage_spools_and_delivers_everything_once_in_order(tmp_path: Path) -> None:
    fake = FakeTransport()
    shipper = LogShipper(settings(tmp_path), transport=fake)
    shipper.start()
    for seq in range(10):
        shipper.ship({"seq": seq})
    wait_for(lambda: len(fake.delivered) == 10)
    fake.up, fake.report_down = False, True
    wait_for(lambda: not shipper.kafka_reachable)
    for seq in range(10, 60):
        shipper.ship({"seq": seq})
    wait_for(lambda: shipper.counters["spooled"] == 50)
    assert list((tmp_path / "spool").glob("*.seg"))
    fake.up = True
    wait_for(lambda: len(fake.delivered) == 60)
    wait_for(lambda: shipper.kafka_reachable and shipper.spool_backlog_bytes == 0)
    for seq in range(60, 70):
        shipper.ship({"seq": seq})
    shipper.close(timeout=5)
    assert seqs(fake) == list(range(70))
    assert shipper.counters["sent"] == 70
    assert not list((tmp_path / "spool").glob("*.seg"))


def test_records_in_flight_that_fail_go_before_newer_spooled_ones(tmp_path: Path) -> None:
    fake = FakeTransport()
    shipper = LogShipper(settings(tmp_path), transport=fake)
    fake.up = False  # silent: no error report, only missing deliveries
    shipper.start()
    for seq in range(5):
        shipper.ship({"seq": seq})
    wait_for(lambda: len(fake.in_flight) == 5)
    wait_for(lambda: not shipper.kafka_reachable)  # found by the missing deliveries
    for seq in range(5, 10):
        shipper.ship({"seq": seq})
    wait_for(lambda: shipper.counters["spooled"] == 5)
    fake.fail_pending = DeliveryError("Local: Message timed out")
    wait_for(lambda: shipper.counters["spooled"] == 10)
    fake.up = True
    wait_for(lambda: len(fake.delivered) == 10)
    shipper.close(timeout=5)
    assert seqs(fake) == list(range(10))


def test_a_failed_drain_is_read_again_without_duplicates(tmp_path: Path) -> None:
    fake = FakeTransport()
    refused_once: set[int] = set()

    def flaky(value: bytes) -> DeliveryError | None:
        seq = json.loads(value)["seq"]
        if seq == 7 and seq not in refused_once:  # one retriable failure in the middle
            refused_once.add(seq)
            return DeliveryError("Broker: Not enough in-sync replicas")
        return None

    fake.up, fake.report_down = False, True
    shipper = LogShipper(settings(tmp_path), transport=fake)
    shipper.start()
    wait_for(lambda: not shipper.kafka_reachable)
    for seq in range(20):
        shipper.ship({"seq": seq})
    wait_for(lambda: shipper.counters["spooled"] == 20)
    fake.refuse = flaky
    fake.up = True
    wait_for(lambda: len(fake.delivered) == 20)
    shipper.close(timeout=5)
    got = seqs(fake)
    assert sorted(got) == list(range(20))
    assert got[:7] == list(range(7))


def test_records_kafka_refuses_for_good_are_dropped(tmp_path: Path) -> None:
    fake = FakeTransport()
    fake.refuse = lambda value: (
        DeliveryError("Broker: Message size too large", permanent=True)
        if b"huge" in value
        else None
    )
    shipper = LogShipper(settings(tmp_path), transport=fake)
    shipper.start()
    shipper.ship({"seq": 0})
    shipper.ship({"seq": 1, "huge": "x"})
    shipper.ship({"seq": 2})
    shipper.close(timeout=5)
    assert seqs(fake) == [0, 2]
    assert shipper.counters["dropped"] == 1
    assert shipper.kafka_reachable


def test_close_spools_what_kafka_did_not_take_and_a_restart_replays_it(tmp_path: Path) -> None:
    down = FakeTransport()
    down.up = False
    first = LogShipper(settings(tmp_path), transport=down)
    first.start()
    for seq in range(30):
        first.ship({"seq": seq})
    first.close(timeout=0.5)
    assert first.counters["spooled"] == 30
    assert down.delivered == []

    up = FakeTransport()
    second = LogShipper(settings(tmp_path), transport=up)
    second.start()
    for seq in range(30, 40):
        second.ship({"seq": seq})  # behind the replayed spool, never ahead of it
    wait_for(lambda: len(up.delivered) == 40)
    second.close(timeout=5)
    assert seqs(up) == list(range(40))
    assert not list((tmp_path / "spool").glob("*.seg"))


def test_a_full_client_queue_spools_instead_of_blocking(tmp_path: Path) -> None:
    fake = FakeTransport()
    fake.capacity = 3
    fake.up = False
    shipper = LogShipper(settings(tmp_path), transport=fake)
    shipper.start()
    for seq in range(10):
        shipper.ship({"seq": seq})
    wait_for(lambda: shipper.counters["spooled"] == 7)
    fake.up = True
    wait_for(lambda: len(fake.delivered) == 10)
    shipper.close(timeout=5)
    assert seqs(fake) == list(range(10))


def test_a_full_spool_counts_drops(tmp_path: Path) -> None:
    fake = FakeTransport()
    fake.up, fake.report_down = False, True
    shipper = LogShipper(
        settings(tmp_path, spool_max_bytes=8192, spool_segment_bytes=4096), transport=fake
    )
    shipper.start()
    wait_for(lambda: not shipper.kafka_reachable)
    for seq in range(200):
        shipper.ship({"seq": seq, "pad": "x" * 100})
    wait_for(lambda: shipper.counters["buffered"] <= 1)
    shipper.close(timeout=0.2)
    counters = shipper.counters
    assert counters["dropped"] > 0
    assert counters["spooled"] + counters["dropped"] == 200
    assert sum(p.stat().st_size for p in (tmp_path / "spool").glob("*.seg")) <= 8192


def test_without_a_spool_failed_records_are_dropped_and_shipping_goes_on() -> None:
    fake = FakeTransport()
    shipper = LogShipper(settings(None), transport=fake)
    fake.up = False
    shipper.start()
    for seq in range(3):
        shipper.ship({"seq": seq})
    wait_for(lambda: len(fake.in_flight) == 3)
    fake.fail_pending = DeliveryError("Local: Message timed out")
    wait_for(lambda: shipper.counters["dropped"] == 3)
    fake.up = True
    shipper.ship({"seq": 3})
    wait_for(lambda: len(fake.delivered) == 1)
    shipper.close(timeout=5)
    assert seqs(fake) == [3]
    assert shipper.kafka_reachable
    assert shipper.counters == {"sent": 1, "spooled": 0, "dropped": 3, "buffered": 0}
