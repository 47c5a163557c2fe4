"""Benchmark: the load balancer (`leapfrog lb run` with HAProxy and with nginx).

* propagation latency: from a health change written to the catalog (a TTL check set to
  failing or passing) to the new backend set live in the proxy (the renderer's
  `lb.applied` event, after the runtime-API command or the reload returned), p50/p99 over
  --rounds changes, for HAProxy's runtime-API path and nginx's reload, and for a new
  service with a route each round (HAProxy: through the runtime API, its spare backends
  and route map; nginx: a reload). The baseline in the same run: new services through a
  HAProxy template whose shape follows the services (bench/_lb_per_service.cfg.j2), so
  each costs a seamless reload, as before the route map. Target p99 <= 100 ms with the
  component's default quiescence (50ms:250ms), whose MIN is part of it.
* requests per second with wrk (loopback, bounded in time) through the load balancer to
  one instance, next to wrk straight to that instance in the same run; ratio target
  >= 0.85.

Run as `.venv/bin/python bench/lb.py [--json]`. Everything runs on loopback, bounded in
time and count; every process started here is stopped, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from _shared import BenchError, no_interrupt
from leapfrog.components import component
from leapfrog.testing import CatalogProcess, free_port

HERE = Path(__file__).resolve().parent
BACKEND = HERE / "_lb_backend.py"
WRK = "/usr/bin/wrk"
P99_TARGET_MS = 100.0
RATIO_TARGET = 0.85


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)] if ordered else 0.0


class Balancer:
    def __init__(self, engine: str, catalog: str, data_dir: Path, wait: str, *extra: str) -> None:
        self.engine = engine
        self.listen = f"127.0.0.1:{free_port()}"
        self.stats = f"127.0.0.1:{free_port()}"
        self.events: list[dict[str, Any]] = []
        self.log = open(data_dir.parent / f"{data_dir.name}.log", "w")  # noqa: SIM115
        lb = component("lb")
        binary = lb.install(lb.options({"engine": engine}), data_dir, lambda _line: None)
        argv = [sys.executable, "-m", "leapfrog", "lb", "run", "--engine", engine,
                "--listen", self.listen, "--stats", self.stats, "--data-dir", str(data_dir),
                "--binary", binary.extra["binary"], "--wait", wait, *extra]  # fmt: skip
        env = {**os.environ, "CONSUL_HTTP_ADDR": catalog}
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env
        )
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 30
        while not self._healthy():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise BenchError(f"{engine} did not come up")
            time.sleep(0.1)

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"http://{self.stats}/health", timeout=1).is_success
        except httpx.HTTPError:
            return False

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if '"access"' not in line:
                self.log.write(line)
                self.log.flush()
            if line.startswith("{") and '"lb.applied"' in line:
                self.events.append(json.loads(line))

    def applied_after(self, since: float, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if event["live_at"] >= since:
                    return event
            time.sleep(0.002)
        raise BenchError(f"{self.engine}: no change applied within {timeout:g}s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_backend(kind: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, str(BACKEND), kind], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        raise BenchError(f"the bench backend did not start: {line!r}")
    return proc, int(line.split()[1])


def register(http: httpx.Client, name: str, ident: str, port: int, route: str) -> None:
    body = {"Name": name, "ID": ident, "Address": "127.0.0.1", "Port": port,
            "Meta": {"route_path": route},
            "Check": {"CheckID": f"ttl:{ident}", "TTL": "10m", "Status": "passing"}}  # fmt: skip
    http.put("/v1/agent/service/register", json=body).raise_for_status()


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    done = subprocess.run(
        [WRK, "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", url],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    )  # fmt: skip
    rps = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", done.stdout
    )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", done.stdout)
    if not rps:
        raise BenchError(f"wrk printed no rate:\n{done.stdout}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": float(rps.group(1)),
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else 0.0,
        "failed": (int(non2xx.group(1)) if non2xx else 0)
        + (sum(int(n) for n in errors.groups()) if errors else 0),
    }


def membership_rounds(lb: Balancer, http: httpx.Client, ident: str, rounds: int) -> dict[str, Any]:
    """Flip one instance's TTL check; ms from the catalog's acknowledgement of the write
    to the change live in the proxy."""
    latencies, applying = [], []
    for number in range(rounds):
        state = "fail" if number % 2 == 0 else "pass"
        time.sleep(0.4)  # longer than the quiescence MAX: every round stands alone
        sent = time.time()
        http.put(f"/v1/agent/check/{state}/ttl:{ident}").raise_for_status()
        event = lb.applied_after(sent)
        latencies.append((event["live_at"] - sent) * 1000)
        applying.append(event["apply_ms"])
        lb.events.clear()
    return summary(latencies, applying)


def new_service_rounds(
    lb: Balancer, http: httpx.Client, port: int, rounds: int, label: str
) -> dict[str, Any]:
    """A new service with its own route each round; also how each change was made live."""
    latencies, applying = [], []
    hows: dict[str, int] = {}
    for number in range(rounds):
        time.sleep(0.4)
        name = f"svc-{label}-{number}"
        sent = time.time()
        register(http, name, name, port, f"/{name}")
        event = lb.applied_after(sent)
        hows[event["how"]] = hows.get(event["how"], 0) + 1
        latencies.append((event["live_at"] - sent) * 1000)
        applying.append(event["apply_ms"])
        lb.events.clear()
    for number in range(rounds):
        http.put(f"/v1/agent/service/deregister/svc-{label}-{number}").raise_for_status()
    return {**summary(latencies, applying), "how": hows}


def summary(values: list[float], applying: list[float]) -> dict[str, Any]:
    """Percentiles of the whole propagation, and of its last step alone (`apply_ms`: the
    runtime-API commands, or the check and the reload), which the quiescence does not hold."""
    return {
        "rounds": len(values),
        "p50_ms": round(percentile(values, 50), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(max(values), 1),
        "apply_p50_ms": round(percentile(applying, 50), 1),
        "apply_p99_ms": round(percentile(applying, 99), 1),
    }


@contextlib.contextmanager
def stopping(procs: list[Any]) -> Iterator[None]:
    try:
        yield
    finally:
        with no_interrupt():
            for proc in reversed(procs):
                if isinstance(proc, Balancer):
                    proc.stop()
                else:
                    proc.kill()
                    proc.wait()


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="lf-bench-lb-"))
    root.chmod(0o755)
    result: dict[str, Any] = {
        "wait": args.wait, "rounds": args.rounds, "seconds": args.seconds,
        "backend": args.backend, "connections": args.conns, "repeats": args.repeats,
    }  # fmt: skip
    with CatalogProcess(root / "catalog") as catalog:
        http = httpx.Client(base_url=f"http://{catalog.http_addr}", timeout=10)
        procs: list[Any] = []
        with stopping(procs):
            one, port_one = start_backend(args.backend)
            two, port_two = start_backend(args.backend)
            procs += [one, two]
            register(http, "bench", "bench-1", port_one, "/bench")
            register(http, "bench", "bench-2", port_two, "/bench")
            for engine in args.engines:
                lb = Balancer(engine, catalog.http_addr, root / engine, args.wait)
                procs.append(lb)
                figures: dict[str, Any] = {}
                if engine == "haproxy":
                    figures["runtime_api"] = membership_rounds(lb, http, "bench-2", args.rounds)
                else:
                    figures["reload_membership"] = membership_rounds(
                        lb, http, "bench-2", args.rounds
                    )
                new_rounds = max(5, args.rounds // 4)
                figures["new_service"] = new_service_rounds(lb, http, port_one, new_rounds, engine)
                if engine == "haproxy":
                    baseline = Balancer(
                        engine, catalog.http_addr, root / "haproxy-per-service", args.wait,
                        "--template", str(HERE / "_lb_per_service.cfg.j2"),
                    )  # fmt: skip
                    procs.append(baseline)
                    figures["new_service_reload_baseline"] = new_service_rounds(
                        baseline, http, port_one, new_rounds, "baseline"
                    )
                    baseline.stop()
                    procs.remove(baseline)
                # Requests/s: one instance behind the LB, against that instance directly;
                # the three runs interleaved --repeats times, medians compared, so that
                # other load on the machine hits them alike.
                http.put("/v1/agent/check/fail/ttl:bench-2").raise_for_status()
                quiet = Balancer(
                    engine, catalog.http_addr, root / f"{engine}-quiet", args.wait,
                    "--no-access-log",
                )  # fmt: skip
                procs.append(quiet)
                time.sleep(0.5)
                targets = {
                    "rps_direct": f"http://127.0.0.1:{port_one}/bench",
                    "rps_through_lb": f"http://{lb.listen}/bench",
                    "rps_through_lb_no_access_log": f"http://{quiet.listen}/bench",
                }
                runs: dict[str, list[dict[str, float]]] = {key: [] for key in targets}
                for _ in range(args.repeats):
                    for key, url in targets.items():
                        runs[key].append(wrk(url, args.seconds, args.conns))
                for proc in (lb, quiet):
                    proc.stop()
                    procs.remove(proc)
                http.put("/v1/agent/check/pass/ttl:bench-2").raise_for_status()
                for key, measured in runs.items():
                    figures[key] = {
                        "rps": statistics.median(m["rps"] for m in measured),
                        "rps_runs": [m["rps"] for m in measured],
                        "p99_ms": statistics.median(m["p99_ms"] for m in measured),
                        "failed": sum(m["failed"] for m in measured),
                    }
                direct = figures["rps_direct"]["rps"]
                figures["rps_ratio"] = round(figures["rps_through_lb"]["rps"] / direct, 3)
                figures["rps_ratio_no_access_log"] = round(
                    figures["rps_through_lb_no_access_log"]["rps"] / direct, 3
                )
                result[engine] = figures
    return result


def render(result: dict[str, Any]) -> str:
    lines = [
        f"quiescence {result['wait']}; wrk {result['seconds']}s per run, medians of "
        f"{result['repeats']} interleaved runs, "
        f"{result['connections']} connections; backend: {result['backend']}"
    ]
    for engine in ("haproxy", "nginx"):
        if engine not in result:
            continue
        f = result[engine]
        lines.append(f"{engine}:")
        for key in (
            "runtime_api", "reload_membership", "new_service", "new_service_reload_baseline"
        ):  # fmt: skip
            if key in f:
                s = f[key]
                ok = "ok" if s["p99_ms"] <= P99_TARGET_MS else "MISSED"
                how = ", ".join(f"{n} by {h}" for h, n in s.get("how", {}).items())
                lines.append(
                    f"  propagation {key:<27} p50 {s['p50_ms']:6.1f} ms  p99 {s['p99_ms']:6.1f}"
                    f" ms; applying p50 {s['apply_p50_ms']:5.1f} ms p99 {s['apply_p99_ms']:5.1f} ms"
                    f"  ({s['rounds']} rounds{'; ' if how else ''}{how}; target p99 <= "
                    f"{P99_TARGET_MS:g} ms: {ok})"
                )
        d = f["rps_direct"]
        lines.append(f"  requests/s direct to the instance {d['rps']:9.0f}")
        for label, key, ratio in (
            ("through lb, access log", "rps_through_lb", "rps_ratio"),
            ("through lb, no access log", "rps_through_lb_no_access_log",
             "rps_ratio_no_access_log"),
        ):  # fmt: skip
            t = f[key]
            ok = "ok" if f[ratio] >= RATIO_TARGET else "MISSED"
            lines.append(
                f"  requests/s {label:<26} {t['rps']:9.0f}  ratio {f[ratio]:.3f} "
                f"(target >= {RATIO_TARGET}: {ok}); failed {t['failed']}"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="health changes per engine")
    parser.add_argument("--seconds", type=int, default=3, help="length of each wrk run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved wrk runs of each")
    parser.add_argument("--conns", type=int, default=32, help="wrk connections")
    parser.add_argument("--wait", default="50ms:250ms", help="the lb's quiescence MIN:MAX")
    parser.add_argument("--engines", nargs="+", default=["haproxy", "nginx"])
    parser.add_argument(
        "--backend", choices=["starlette", "bare"], default="starlette",
        help="the instance: a Starlette app on uvicorn, or a bare asyncio server",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    try:
        result = run(args)
    except BenchError as exc:
        print(f"bench/lb.py: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
