"""Rollouts of an SDK service behind the real HAProxy while clients keep requesting: a
rolling update, a broken revision reverted automatically, an undo; not one request
fails. And a supervisor killed mid-rollout: the next `up` resumes it, a step at a time."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import threading
import time
from collections import Counter
from typing import Any

import httpx

from leapfrog.shared.procs import is_running
from leapfrog.testing import StackDir, wait_until

from .conftest import free_port
from .test_scale import Load
from .test_sdk_stack import APP
from .test_sdk_stack import stack_text as sdk_stack_text


def stack_text(
    ports: tuple[int, int, int, int],
    version: str,
    *,
    broken: bool = False,
    rollout: str = "{progress_deadline: 8s}",
) -> str:
    listen, stats, http_port, dns = ports
    return sdk_stack_text(
        f"127.0.0.1:{listen}",
        f"127.0.0.1:{stats}",
        http_port,
        dns,
        version,
        check="{exec: 'false'}" if broken else "{http: /health/ready}",
        extra=f"    rollout: {rollout}\n",
    )


def versions(stack: StackDir) -> dict[str, str]:
    return {i["name"]: i["version"] for i in stack.status() if i["unit"] == "web"}


def rollout(stack: StackDir, *args: str) -> dict[str, object]:
    result = stack.cli("rollout", *args, "--json", timeout=120)
    assert result.code in (0, 1), result.output
    text = result.stdout.strip()
    # `status` prints JSON lines (the last one final); the others one object.
    body: dict[str, object] = json.loads(text if args[0] != "status" else text.splitlines()[-1])
    return body


def up_served(stack: StackDir, ports: tuple[int, int, int, int], rollout: str) -> None:
    """The SDK service at 1.0.0 with this `rollout:`, up and served through the LB."""
    shutil.copy(APP, stack.root / "sdk_app.py")
    stack.write(stack_text(ports, "1.0.0", rollout=rollout))
    assert (result := stack.up(timeout=180)).code == 0, result.output
    wait_until(
        lambda: httpx.get(f"http://127.0.0.1:{ports[0]}/web/x", timeout=5).status_code == 200,
        timeout=30,
        what="the route served",
    )


def served_without_failure(load: Load, what: str) -> None:
    seconds = load.ended - load.started
    total = sum(load.served.values())
    print(
        f"{what}: served {total} requests in {seconds:.1f}s ({total / seconds:.0f}/s), "
        f"by version: {dict(sorted(load.served.items()))}; failures {len(load.failures)}; "
        f"per phase: {load.rates()}"
    )
    assert load.failures == [], f"{len(load.failures)} failed: {load.failures[:10]}"


def test_rolling_update_revert_and_undo_under_load_drop_nothing() -> None:
    ports = (free_port(), free_port(), free_port(), free_port())
    with StackDir() as stack:
        shutil.copy(APP, stack.root / "sdk_app.py")
        stack.write(stack_text(ports, "1.0.0"))
        result = stack.up(timeout=180)
        assert result.code == 0, result.output
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{ports[0]}/web/x", timeout=5).status_code == 200,
            timeout=30,
            what="the route served",
        )
        with Load(f"127.0.0.1:{ports[0]}", "/web/x", word=1, first="1.0.0") as load:
            wait_until(lambda: load.snapshot()["1.0.0"] > 100, timeout=30, what="load served")

            # A rolling update: one surge instance, then web-1 and web-2 one at a time.
            load.enter("update")
            stack.write(stack_text(ports, "2.0.0"))
            rolled = stack.up(timeout=180)
            assert rolled.code == 0, rolled.output
            assert versions(stack) == {"web-1": "2.0.0", "web-2": "2.0.0"}
            done = rollout(stack, "status", "web")
            assert done["phase"] == "complete" and done["current"] == 2, done
            before = load.snapshot()
            wait_until(
                lambda: load.snapshot()["2.0.0"] > before["2.0.0"] + 100,
                timeout=30,
                what="the new version served",
            )

            # A revision whose check fails: reverted to revision 2 once its deadline passes.
            load.enter("broken revision")
            stack.write(stack_text(ports, "3.0.0", broken=True))
            broken = stack.up(timeout=180)
            assert broken.code == 1, broken.output
            assert "reverted" in broken.output, broken.output
            seen = rollout(stack, "status", "web", "--no-watch")
            assert seen["phase"] == "reverted", seen
            assert "not passing within 8s" in str(seen["reason"]), seen
            assert seen["current"] == 2, seen
            assert versions(stack) == {"web-1": "2.0.0", "web-2": "2.0.0"}
            history = rollout(stack, "history", "web")
            revisions = history["revisions"]
            assert isinstance(revisions, list)
            assert [r["number"] for r in revisions] == [1, 2, 3]
            assert str(revisions[2]["outcome"]).startswith("failed: "), revisions[2]
            assert "reverted to revision 2" in str(revisions[2]["outcome"])

            # Undo: back to the revision before the current one (1.0.0), recorded as 4.
            load.enter("undo")
            undone = rollout(stack, "undo", "web")
            assert undone["undone"] is True and undone["revision"] == 4, undone
            waited = stack.cli("rollout", "status", "web", "--timeout", "120s", timeout=180)
            assert waited.code == 0, waited.output
            assert "revision 4 rolled out" in waited.stdout, waited.output
            assert versions(stack) == {"web-1": "1.0.0", "web-2": "1.0.0"}
            before = load.snapshot()
            wait_until(
                lambda: load.snapshot()["1.0.0"] > before["1.0.0"] + 100,
                timeout=30,
                what="the old version served again",
            )
        seconds = load.ended - load.started
        total = sum(load.served.values())
        print(
            f"served {total} requests in {seconds:.1f}s ({total / seconds:.0f}/s) through "
            f"HAProxy, by version: {dict(sorted(load.served.items()))}; "
            f"failures {len(load.failures)}; per phase: {load.rates()}"
        )
        assert load.failures == [], f"{len(load.failures)} failed: {load.failures[:10]}"
        assert total > 1000


class Serving:
    """Polls the catalog for the web instances it passes (what the load balancer routes
    to) every 50 ms, noting how many pass and of which versions."""

    def __init__(self, catalog: str, token: str) -> None:
        self.url = f"http://{catalog}/v1/health/service/web?passing=1"
        self.headers = {"X-Consul-Token": token}
        self.seen: list[tuple[float, int, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll)

    def _poll(self) -> None:
        with httpx.Client(timeout=5, headers=self.headers) as client:
            while not self._stop.wait(0.05):
                try:
                    entries = client.get(self.url).json()
                except (httpx.HTTPError, ValueError):
                    continue
                by_version = Counter(str(e["Service"]["Meta"].get("version")) for e in entries)
                self.seen.append((time.monotonic(), len(entries), dict(by_version)))

    def fewest(self) -> int:
        return min(count for _, count, _ in self.seen)

    def __enter__(self) -> Serving:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_supervisor_killed_mid_rollout_the_next_up_resumes_it_gradually() -> None:
    """kill -9 of the supervisor in the middle of a rolling update of four instances:
    its instances (each in a session of its own) and the load balancer serve on; the
    next `up` adopts the old and the new ones as they run and resumes the rollout a step
    at a time. Never fewer than four instances pass in the catalog, not one request
    fails, and at the end all four run the new version."""
    ports = (free_port(), free_port(), free_port(), free_port())
    slow = "{min_ready: 3s, progress_deadline: 1m}"

    def four(version: str) -> str:
        return stack_text(ports, version, rollout=slow).replace("replicas: 2", "replicas: 4")

    with StackDir() as stack:
        shutil.copy(APP, stack.root / "sdk_app.py")
        stack.write(four("1.0.0"))
        assert (result := stack.up(timeout=180)).code == 0, result.output
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{ports[0]}/web/x", timeout=5).status_code == 200,
            timeout=30,
            what="the route served",
        )
        state_file = stack.root / ".leapfrog/run/state.json"
        pid = json.loads(state_file.read_text())["supervisor"]["pid"]
        token = (stack.root / ".leapfrog/secrets/catalog-token").read_text().strip()
        with (
            Load(f"127.0.0.1:{ports[0]}", "/web/x", word=1, first="1.0.0") as load,
            Serving(f"127.0.0.1:{ports[2]}", token) as serving,
        ):
            wait_until(lambda: load.snapshot()["1.0.0"] > 100, timeout=30, what="load served")
            load.enter("rolling")
            stack.write(four("2.0.0"))
            # `up` applies and returns at once with a short timeout; the rollout goes on.
            stack.cli("up", "-d", "--timeout", "1s", timeout=60)
            # Killed while the step's new instance waits out its min_ready (3 s).
            wait_until(
                lambda: any(
                    i["name"] == "web-1" and i["version"] == "2.0.0" and i["state"] == "healthy"
                    for i in stack.status()
                ),
                timeout=60,
                what="the first old instance replaced",
            )
            running = json.loads(state_file.read_text())["instances"]
            load.enter("supervisor killed")
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10, what="it died")
            time.sleep(2.0)  # no supervisor: the instances and the load balancer serve on
            alive = [
                i["name"] for i in running if i["pid"] and is_running(i["pid"], i["start_ticks"])
            ]
            assert alive == [i["name"] for i in running if i["pid"]], running
            old = [n for n, v in versions(stack).items() if v == "1.0.0"]
            assert old, "the rollout had ended before the kill"

            load.enter("resumed")
            again = stack.up(timeout=240)
            assert again.code == 0, again.output
            for name in old:
                assert f"adopted {name} from an earlier supervisor at revision 1" in again.output
            assert versions(stack) == {f"web-{n}": "2.0.0" for n in range(1, 5)}
            before = load.snapshot()
            wait_until(
                lambda: load.snapshot()["2.0.0"] > before["2.0.0"] + 100,
                timeout=30,
                what="the new version served",
            )
        served_without_failure(load, "supervisor killed mid-rollout")
        print(f"fewest instances passing in the catalog: {serving.fewest()}")
        assert len(serving.seen) > 100, serving.seen
        assert serving.seen[0][2] == {"1.0.0": 4}, serving.seen[0]
        assert serving.seen[-1][2] == {"2.0.0": 4}, serving.seen[-1]
        assert serving.fewest() >= 4, [s for s in serving.seen if s[1] < 4]
        # Gradual: the old version left the passing set one instance at a time.
        olds = [by.get("1.0.0", 0) for _, _, by in serving.seen]
        assert all(b >= a - 1 for a, b in itertools.pairwise(olds)), olds
        seen = rollout(stack, "status", "web", "--no-watch")
        assert seen["phase"] == "complete" and seen["current"] == 2, seen
        assert seen["resumed"] == 1, seen
        history = rollout(stack, "history", "web")
        assert [r["number"] for r in history["revisions"]] == [1, 2]  # type: ignore[union-attr]
        log = stack.cli("logs", "supervisor").stdout
        assert "resuming the rollout the last supervisor was killed in" in log, log


def test_a_canary_serves_beside_the_old_version_until_resumed() -> None:
    ports = (free_port(), free_port(), free_port(), free_port())
    canary = "{canary: 1, progress_deadline: 1m}"
    with StackDir() as stack:
        up_served(stack, ports, canary)
        with Load(f"127.0.0.1:{ports[0]}", "/web/x", word=1, first="1.0.0") as load:
            stack.write(stack_text(ports, "2.0.0", rollout=canary))
            load.enter("canary")
            paused = stack.up(timeout=180)  # returns once the rollout pauses
            assert paused.code == 0, paused.output
            seen = rollout(stack, "status", "web", "--no-watch")
            assert seen["phase"] == "paused" and "canary" in str(seen["reason"]), seen
            assert versions(stack) == {"web-1": "1.0.0", "web-2": "1.0.0", "web-3": "2.0.0"}
            # History names the canary: its revision, instance, since when, and promote.
            held: Any = rollout(stack, "history", "web")["canary"]
            assert held["revision"] == 2 and held["instances"] == ["web-3"], held
            assert held["beside"] == 2 and held["since"] > 0 and held["waits_for"] == "promote"
            text = stack.cli("rollout", "history", "web", timeout=60)
            assert "waits for `leapfrog rollout promote web`" in " ".join(text.stdout.split())
            before = load.snapshot()
            wait_until(
                lambda: all(load.snapshot()[v] > before[v] + 50 for v in ("1.0.0", "2.0.0")),
                timeout=30,
                what="both versions served while paused",
            )
            # `up` of the same file lets the paused rollout be: the canary stays as it is.
            pid = {i["name"]: i["pid"] for i in stack.status()}["web-3"]
            again = stack.up(timeout=180)
            assert again.code == 0, again.output
            assert {i["name"]: i["pid"] for i in stack.status()}["web-3"] == pid

            load.enter("resumed")
            resumed = rollout(stack, "resume", "web")
            assert resumed["phase"] == "progressing", resumed
            waited = stack.cli("rollout", "status", "web", "--timeout", "120s", timeout=180)
            assert waited.code == 0, waited.output
            assert versions(stack) == {"web-1": "2.0.0", "web-2": "2.0.0"}
            assert rollout(stack, "history", "web")["canary"] is None
        nothing = stack.cli("rollout", "pause", "web")
        assert nothing.code == 1 and "no rollout in progress" in nothing.output, nothing.output
        served_without_failure(load, "canary")


def test_a_canary_promotes_itself_after_its_period_and_undo_takes_one_back() -> None:
    ports = (free_port(), free_port(), free_port(), free_port())
    canary = "{canary: 1, promote_after: 8s, progress_deadline: 1m}"
    with StackDir() as stack:
        up_served(stack, ports, canary)
        with Load(f"127.0.0.1:{ports[0]}", "/web/x", word=1, first="1.0.0") as load:
            # A canary undone within its period: it leaves, nothing is promoted.
            stack.write(stack_text(ports, "2.0.0", rollout=canary))
            load.enter("canary, undone")
            assert (paused := stack.up(timeout=180)).code == 0, paused.output
            seen = rollout(stack, "status", "web", "--no-watch")
            assert seen["phase"] == "paused" and "promote_after" in str(seen["reason"]), seen
            undone = rollout(stack, "undo", "web")
            assert undone["undone"] is True, undone
            waited = stack.cli("rollout", "status", "web", "--timeout", "120s", timeout=180)
            assert waited.code == 0, waited.output
            assert versions(stack) == {"web-1": "1.0.0", "web-2": "1.0.0"}

            # The same change again: its canary passes for 8 s and is promoted.
            load.enter("canary, promoted")
            assert (paused := stack.up(timeout=180)).code == 0, paused.output
            seen = rollout(stack, "status", "web", "--no-watch")
            assert seen["phase"] == "paused", seen
            assert versions(stack) == {"web-1": "1.0.0", "web-2": "1.0.0", "web-3": "2.0.0"}

            def promoted() -> dict[str, object] | None:
                now = rollout(stack, "status", "web", "--no-watch")
                return now if now["phase"] == "complete" else None

            done = wait_until(promoted, timeout=120, what="the canary promoted by itself")
            assert done["promoted"] == "by itself after 8s passing (promote_after)", done
            assert versions(stack) == {"web-1": "2.0.0", "web-2": "2.0.0"}
        history = rollout(stack, "history", "web")
        causes = [r["cause"] for r in history["revisions"]]  # type: ignore[union-attr]
        assert causes == ["up", "up", "undo to revision 1", "up"], causes
        served_without_failure(load, "canary promote_after")
