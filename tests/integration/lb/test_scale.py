"""`leapfrog scale` under load through the real HAProxy: 2 → 6 → 1 instances of an SDK
service while clients keep requesting, and not one request fails."""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
from collections import Counter

import httpx

from leapfrog.testing import StackDir, wait_until

from .conftest import free_port
from .test_sdk_stack import APP, stack_text

CLIENTS = 4
REQUEST_LIMIT = 400_000
"""A bound on the load whatever happens (at ~3,000 requests/s, about two minutes)."""


class Load:
    """Clients on keep-alive connections to the entry point, each request counted by the
    instance that answered it; any error or non-200 answer is a failure, kept with the
    phase it happened in and its time since the load began."""

    def __init__(self, listen: str, path: str, word: int = 0, first: str = "2") -> None:
        """`word`: which word of an answer (instance, version, path) it is counted by;
        `first`: the name of the first phase."""
        self.word, self.first = word, first
        self.host, port = listen.rsplit(":", 1)
        self.port = int(port)
        self.path = path
        self.served: Counter[str] = Counter()
        self.failures: list[str] = []
        self.phase = "2"
        self.started = self.ended = 0.0
        self.marks: list[tuple[str, float, int]] = []
        """(phase, when it began, requests answered by then)."""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client) for _ in range(CLIENTS)]

    def _fail(self, what: str) -> None:
        with self._lock:
            self.failures.append(f"{self.phase} +{time.monotonic() - self.started:.3f}s {what}")

    def _client(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        while not self._stop.is_set() and self.total() < REQUEST_LIMIT:
            try:
                conn.request("GET", self.path)
                response = conn.getresponse()
                body = response.read().decode()
            except (OSError, http.client.HTTPException) as exc:
                self._fail(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                continue
            if response.status == 200:
                with self._lock:
                    self.served[body.split()[self.word]] += 1
            else:
                self._fail(f"{response.status} {body[:80]}")
        conn.close()

    def enter(self, phase: str) -> None:
        with self._lock:
            self.marks.append((phase, time.monotonic(), sum(self.served.values())))
        self.phase = phase

    def rates(self) -> str:
        """Requests answered per second in each phase."""
        ends = [*self.marks[1:], ("", self.ended, sum(self.served.values()))]
        return ", ".join(
            f"{phase}: {after - before} in {end - at:.1f}s ({(after - before) / (end - at):.0f}/s)"
            for (phase, at, before), (_, end, after) in zip(self.marks, ends, strict=True)
        )

    def total(self) -> int:
        with self._lock:
            return sum(self.served.values()) + len(self.failures)

    def since(self, before: Counter[str]) -> set[str]:
        with self._lock:
            return {name for name, n in self.served.items() if n > before.get(name, 0)}

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.served)

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        self.enter(self.first)
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
        self.ended = time.monotonic()


def test_scale_2_to_6_to_1_under_load_drops_nothing() -> None:
    listen, stats = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    with StackDir() as stack:
        shutil.copy(APP, stack.root / "sdk_app.py")
        stack.write(stack_text(listen, stats, free_port(), free_port(), "1.0.0"))
        result = stack.up(timeout=180)
        assert result.code == 0, result.output
        # `up` returns once the instances are healthy; the load balancer applies their
        # registrations a few milliseconds later. What is measured here is scaling, so
        # the load starts once the route serves.
        wait_until(
            lambda: httpx.get(f"http://{listen}/web/x", timeout=5).status_code == 200,
            timeout=30,
            what="the route served",
        )
        with Load(listen, "/web/x") as load:
            wait_until(
                lambda: load.since(Counter()) == {"web-1", "web-2"},
                timeout=30,
                what="both instances served",
            )
            load.enter("2→6")
            up = stack.cli("scale", "web=6", "--json", timeout=180)
            assert up.code == 0, up.output
            body = json.loads(up.stdout)
            assert body["scaled"]["web"]["start"] == [f"web-{i}" for i in range(3, 7)]
            assert set(body["states"].values()) == {"healthy"}
            status = {i["name"]: i for i in stack.status() if i["unit"] == "web"}
            assert len(status) == 6
            assert len({i["address"] for i in status.values()}) == 6  # each its own
            before = load.snapshot()
            wait_until(
                lambda: load.since(before) == {f"web-{i}" for i in range(1, 7)},
                timeout=30,
                what="all six served through the load balancer",
            )

            load.enter("6→1")
            down = stack.cli("scale", "web=-5", timeout=180)
            assert down.code == 0, down.output
            assert "drained and stopped: web-2, web-3, web-4, web-5, web-6" in down.stdout
            assert [i["name"] for i in stack.status() if i["unit"] == "web"] == ["web-1"]
            load.enter("1")
            after = load.snapshot()
            time.sleep(2.0)
            assert load.since(after) == {"web-1"}
        total = sum(load.served.values())
        rate = total / (load.ended - load.started)
        print(
            f"served {total} requests in {load.ended - load.started:.1f}s ({rate:.0f}/s) "
            f"through HAProxy: {dict(sorted(load.served.items()))}; "
            f"failures {len(load.failures)}; per phase: {load.rates()}"
        )
        assert total > 100
        assert load.failures == [], f"{len(load.failures)} failed: {load.failures[:10]}"
