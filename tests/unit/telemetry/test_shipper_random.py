"""Random outages, failures and restarts: every event still arrives once, in order."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from leapfrog.telemetry import DeliveryError, LogShipper
from tests.unit.telemetry.fake import FakeTransport, wait_for
from tests.unit.telemetry.test_shipper import settings


@pytest.mark.parametrize("seed", range(8))
def test_any_mix_of_outages_keeps_order_and_loses_nothing(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    config = settings(tmp_path, detect_timeout=0.03, spool_segment_bytes=4096)
    transports = [FakeTransport()]  # one per process: each starts a new producer
    shipper = LogShipper(config, transport=transports[-1])
    shipper.start()
    shipped = 0
    for _ in range(30):
        fake = transports[-1]
        action = rng.choice(["ship", "ship", "ship", "down", "silent", "up", "fail", "restart"])
        if action == "ship":
            for _ in range(rng.randint(1, 40)):
                shipper.ship({"seq": shipped, "pad": "x" * rng.randint(0, 200)})
                shipped += 1
        elif action == "down":
            fake.up, fake.report_down = False, True
        elif action == "silent":
            fake.up = False
        elif action == "up":
            fake.up = True
        elif action == "fail":
            fake.fail_pending = DeliveryError("Local: Message timed out")
        else:  # the process stops and a new one starts on the same spool
            shipper.close(timeout=rng.choice([0.0, 0.05]))
            transports.append(FakeTransport())
            transports[-1].up = fake.up
            shipper = LogShipper(config, transport=transports[-1])
            shipper.start()
        time.sleep(rng.choice([0, 0, 0.01, 0.05]))
    transports[-1].up = True
    wait_for(lambda: sum(len(f.delivered) for f in transports) >= shipped, timeout=20)
    shipper.close(timeout=5)
    got = [json.loads(v)["seq"] for f in transports for v in f.values()]
    assert got == list(range(shipped))
    assert not list((tmp_path / "spool").glob("*.seg"))
