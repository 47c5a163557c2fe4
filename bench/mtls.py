"""Requests per second of an SDK service with service identity on (mTLS with the
catalog's leaf certificate, every request's caller checked against the intentions)
against the same service without it, in the same run.

A catalog is started on a free loopback port (ACL off, default intention policy deny,
one intention `bench-client => hello (allow)`); the client presents the leaf of
`bench-client`. The load generator is bench/mtls_load (Go, standard library: wrk cannot
present a client certificate), built into the cache on first use. Both servers stay up;
rounds alternate (plain, mTLS, plain, ...), so drift on the machine hits both alike.
Connections are kept alive, as services' clients keep them: what is measured is the
per-request cost (encryption, the authorization cache), not handshakes. Prints the
medians and their ratio (target >= 0.85).

    .venv/bin/python bench/mtls.py [--rounds 6] [--seconds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from leapfrog.shared.cache import cache_dir
from leapfrog.testing import CatalogProcess, free_port

HERE = Path(__file__).parent
APP = HERE / "apps" / "sdk_hello.py"
LOAD_SOURCE = HERE / "mtls_load" / "main.go"
HOST = "127.0.0.1"


def load_generator() -> Path:
    """bench/mtls_load built once per source version into the cache."""
    digest = hashlib.sha256(LOAD_SOURCE.read_bytes()).hexdigest()[:12]
    binary = cache_dir() / "mtls-load" / digest / "mtls_load"
    if binary.is_file():
        return binary
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        raise SystemExit("Go is needed to build bench/mtls_load (at /usr/local/go/bin/go)")
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".partial")
    subprocess.run(
        [go, "build", "-trimpath", "-o", str(partial), str(LOAD_SOURCE)],
        check=True,
        env={**os.environ, "GO111MODULE": "off", "GOTOOLCHAIN": "local"},
    )
    partial.rename(binary)
    return binary


def serve(mode: str, catalog: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    argv = [sys.executable, str(APP), mode, HOST, str(port)]
    proc = subprocess.Popen(
        [*argv, catalog] if mode == "mtls" else argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "KAFKA_BOOTSTRAP_SERVERS": ""},
    )
    scheme = "https" if mode == "mtls" else "http"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            ready = f"{scheme}://{HOST}:{port}/health/ready"
            if httpx.get(ready, timeout=1, verify=False).status_code == 200:
                return proc, f"{scheme}://{HOST}:{port}/"
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the {mode} server did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(
    binary: Path, url: str, seconds: int, connections: int, tls: list[str]
) -> dict[str, Any]:
    out = subprocess.run(
        [str(binary), "-url", url, "-d", str(seconds), "-c", str(connections), *tls],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    result = json.loads(out)
    if result["errors"]:
        raise SystemExit(f"the load saw {result['errors']} failed requests at {url}")
    return result  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    binary = load_generator()
    work = Path(tempfile.mkdtemp(prefix="bench-mtls-"))
    catalog = CatalogProcess(work / "catalog", "--acl", "off", "--default-intention-policy", "deny")
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        catalog.start()
        base = f"http://{catalog.http_addr}"
        httpx.put(
            f"{base}/v1/connect/intentions/exact",
            params={"source": "bench-client", "destination": "hello"},
            json={"Action": "allow"},
        ).raise_for_status()
        leaf = httpx.get(f"{base}/v1/agent/connect/ca/leaf/bench-client").json()
        roots = httpx.get(f"{base}/v1/connect/ca/roots", params={"pem": "true"}).text
        files = {"cert": leaf["CertPEM"], "key": leaf["PrivateKeyPEM"], "ca": roots}
        tls: list[str] = ["-sni", "hello"]
        for name, text in files.items():
            path = work / f"client.{name}"
            path.write_text(text)
            path.chmod(0o600)
            tls += [f"-{name}", str(path)]
        for mode in ("plain", "mtls"):
            servers[mode] = serve("sdk" if mode == "plain" else "mtls", catalog.http_addr)
            run_load(binary, servers[mode][1], 1, args.connections, tls if mode == "mtls" else [])
        results: dict[str, list[float]] = {"plain": [], "mtls": []}
        cpu_us: dict[str, list[float]] = {"plain": [], "mtls": []}
        for round_no in range(1, args.rounds + 1):
            for mode in ("plain", "mtls"):
                url = servers[mode][1]
                flags = tls if mode == "mtls" else []
                pid = servers[mode][0].pid
                before = cpu_seconds(pid)
                result = run_load(binary, url, args.seconds, args.connections, flags)
                cpu_us[mode].append((cpu_seconds(pid) - before) / result["requests"] * 1e6)
                results[mode].append(result["rps"])
                print(
                    f"round {round_no} {mode:>5}: {result['rps']:8.0f} req/s  "
                    f"p99 {result['p99_ms']:6.2f} ms  "
                    f"server CPU {cpu_us[mode][-1]:5.1f} us/request",
                    flush=True,
                )
    finally:
        for proc, _ in servers.values():
            proc.send_signal(signal.SIGTERM)
        for proc, _ in servers.values():
            proc.wait(20)
        if catalog.proc is not None:
            catalog.stop()
        shutil.rmtree(work, ignore_errors=True)
    plain, mtls = statistics.median(results["plain"]), statistics.median(results["mtls"])
    pairs = [m / p for m, p in zip(results["mtls"], results["plain"], strict=True)]
    print()
    print(f"SDK, plain HTTP            : {plain:8.0f} req/s (median of {args.rounds})")
    print(f"SDK, mTLS + intentions     : {mtls:8.0f} req/s")
    print(f"ratio mtls/plain           : {mtls / plain:.3f}  (target >= 0.85)")
    print(f"  round by round           : {' '.join(f'{r:.2f}' for r in pairs)}")
    plain_cpu, mtls_cpu = statistics.median(cpu_us["plain"]), statistics.median(cpu_us["mtls"])
    print(f"server CPU per request     : plain {plain_cpu:.1f} us, mtls {mtls_cpu:.1f} us (median)")
    print(
        f"ratio plain/mtls CPU       : {plain_cpu / mtls_cpu:.3f}  (the requests/s one core "
        "gives; the load generator's own TLS shares the machine's cores in the ratio above)"
    )


if __name__ == "__main__":
    main()
