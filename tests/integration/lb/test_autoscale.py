"""`autoscale:` on one machine, through the real HAProxy: load raises an SDK service from
its minimum within the policy's window, and once the load stops and the scale-down
stabilization window has passed it is back at its minimum; every decision is in the
supervisor's log with its reason, and not one request fails meanwhile."""

from __future__ import annotations

import shutil
import time
from collections import Counter

import httpx
import pytest

from leapfrog.testing import StackDir, wait_until

from .conftest import free_port
from .test_scale import Load
from .test_sdk_stack import APP, stack_text

AUTOSCALE = (
    "    autoscale:\n"
    "      min: 1\n"
    "      max: 3\n"
    "      requests_per_second: 20\n"
    "      scale_down: {stabilization: 4s}\n"
)


def _web(stack: StackDir) -> list[str]:
    return [i["name"] for i in stack.status() if i["unit"] == "web"]


def test_load_scales_up_within_the_window_and_back_down_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One sync a second instead of the HPA's fifteen; the arithmetic is the same.
    monkeypatch.setenv("LEAPFROG_AUTOSCALE_SYNC", "1")
    listen, stats = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    with StackDir() as stack:
        shutil.copy(APP, stack.root / "sdk_app.py")
        text = stack_text(listen, stats, free_port(), free_port(), "1.0.0")
        stack.write(text.replace("    replicas: 2\n", "    replicas: 1\n") + AUTOSCALE)
        result = stack.up(timeout=180)
        assert result.code == 0, result.output
        wait_until(
            lambda: httpx.get(f"http://{listen}/web/x", timeout=5).status_code == 200,
            timeout=30,
            what="the route served",
        )
        # Idle: a few syncs keep the one instance.
        time.sleep(3.0)
        assert _web(stack) == ["web-1"]
        with Load(listen, "/web/x") as load:
            load.enter("load")
            wait_until(lambda: len(_web(stack)) == 3, timeout=30, what="autoscaled to its maximum")
            before = load.snapshot()
            wait_until(
                lambda: load.since(before) == {"web-1", "web-2", "web-3"},
                timeout=30,
                what="the new instances served through the load balancer",
            )
            load.enter("stopping")
        stopped = time.monotonic()
        wait_until(lambda: _web(stack) == ["web-1"], timeout=60, what="back to its minimum")
        waited = time.monotonic() - stopped
        log = stack.log("supervisor")
        assert "autoscale web: 1 -> 3: requests" in log, log[-2000:]
        assert "autoscale web: 3 -> 1: requests" in log, log[-2000:]
        last = stack.state_file()["units"]["web"]["autoscale"]
        assert last["desired"] == 1 and "target 20/s" in last["reason"]
        status = stack.cli("status")
        assert "web: autoscale" in status.stdout, status.output
        total = sum(load.served.values())
        print(
            f"served {total} requests ({dict(sorted(load.served.items()))}), failures "
            f"{len(load.failures)}; per phase: {load.rates()}; back to 1 after {waited:.1f}s"
        )
        # The scale-down waited for its window: nothing left before 4 s without load.
        assert waited >= 4.0
        assert total > 100
        assert load.failures == [], f"{len(load.failures)} failed: {load.failures[:10]}"
        assert Counter(load.served).keys() >= {"web-1", "web-2", "web-3"}
