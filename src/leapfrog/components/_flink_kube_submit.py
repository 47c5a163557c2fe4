"""Before a Flink SQL job is submitted on Kubernetes (the standalone cluster): fetch its
connector jars, and decide against the JobManager's REST API what the submission is.

Runs as the init container of the job's submit Job (image `python:*-alpine`), so it uses
the standard library only; leapfrog ships this file in the `flink-jobs` ConfigMap. The
Job's main container (the Flink image) then runs the SQL client with what this wrote:

- `<work>/jars/*.jar`: each connector jar from Maven Central, checked against the `.sha1`
  Maven Central publishes beside it;
- `<work>/init.sql`: the job's settings (`pipeline.name` is `<job>@<digest of its SQL and
  settings>`), with `execution.state-recovery.path` when an older version of the job was
  stopped with a savepoint to make way for this one;
- `<work>/skip`, instead, when this very version already runs (a re-run of the Job, or a
  re-applied stack file), so that no job is ever submitted twice.

The same job under another digest is stopped with a savepoint (retried until the timeout:
Flink refuses while tasks are still deploying) and the new version resumes from it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ACTIVE = {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING", "FAILING"}


class Refused(Exception):
    """What went wrong, in words for the Job's log."""


def _request(url: str, body: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read() or b"null")


def fetch_jar(url: str, into: Path, timeout: float = 60.0) -> Path:
    """Download `url` into `into`, checked against `url.sha1`; the file."""
    target = into / url.rsplit("/", 1)[-1]
    try:
        with urllib.request.urlopen(url + ".sha1", timeout=timeout) as answer:
            expected = answer.read().decode().split()[0].lower()
        digest = hashlib.sha1(usedforsecurity=False)
        partial = target.with_suffix(".part")
        with urllib.request.urlopen(url, timeout=timeout) as answer, open(partial, "wb") as out:
            while chunk := answer.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except (OSError, urllib.error.URLError, IndexError) as exc:
        raise Refused(f"cannot download {url}: {exc}") from None
    if digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        raise Refused(f"{url}: its SHA-1 is {digest.hexdigest()}, Maven Central says {expected}")
    partial.rename(target)
    return target


def active_jobs(rest: str, deadline: float) -> list[dict[str, Any]]:
    """The cluster's jobs not yet ended, waiting for the JobManager to answer."""
    last = ""
    while time.monotonic() < deadline:
        try:
            jobs = _request(f"{rest}/jobs/overview").get("jobs", [])
            return [j for j in jobs if j.get("state") in ACTIVE]
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = str(exc)
            time.sleep(2.0)
    raise Refused(f"the JobManager at {rest} did not answer: {last}")


def stop_with_savepoint(rest: str, job_id: str, deadline: float) -> str:
    """Stop the job with a savepoint in the cluster's savepoint folder; its location."""
    failure = "?"
    while time.monotonic() < deadline:
        try:
            trigger = _request(f"{rest}/jobs/{job_id}/stop", {"drain": False})["request-id"]
        except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
            failure = str(exc)  # e.g. tasks still deploying: not stoppable yet
            time.sleep(2.0)
            continue
        while time.monotonic() < deadline:
            answer = _request(f"{rest}/jobs/{job_id}/savepoints/{trigger}")
            if answer.get("status", {}).get("id") == "COMPLETED":
                operation = answer.get("operation", {})
                if "location" in operation:
                    return str(operation["location"])
                trace = operation.get("failure-cause", {}).get("stack-trace", "?")
                failure = trace.splitlines()[0] if trace else "?"
                break
            time.sleep(1.0)
        time.sleep(2.0)
    raise Refused(f"job {job_id} did not stop with a savepoint: {failure}")


def prepare(
    rest: str,
    job: str,
    digest: str,
    *,
    settings: dict[str, str],
    work: Path,
    timeout: float,
    state_version: str = "",
) -> str:
    """Decide the submission; returns what was decided, in words. A job with a
    `state_version` carries it in its name (`<job>@<digest>@<version>`): an older version
    whose state has another layout is stopped, but its savepoint is not restored (Flink
    would fail the job at every restart)."""
    deadline = time.monotonic() + timeout
    wanted = f"{job}@{digest}" + (f"@{state_version}" if state_version else "")
    mine = [j for j in active_jobs(rest, deadline) if str(j.get("name", "")).split("@")[0] == job]
    if any(j.get("name") == wanted for j in mine):
        (work / "skip").write_text(wanted + "\n")
        return f"{wanted} already runs: nothing to submit"
    restore = None
    for old in mine:
        savepoint = stop_with_savepoint(rest, str(old["jid"]), deadline)
        parts = str(old.get("name", "")).split("@")
        if (parts[2] if len(parts) > 2 else "") == state_version:
            restore = savepoint
    lines = {**settings, "pipeline.name": wanted}
    if restore is not None:
        lines["execution.state-recovery.path"] = restore
        # A changed job may have dropped an operator; its state is then left behind.
        lines["execution.state-recovery.ignore-unclaimed-state"] = "true"
    init = "".join(f"SET '{key}' = '{value}';\n" for key, value in lines.items())
    (work / "init.sql").write_text(init)
    return f"submitting {wanted}" + (f" from {restore}" if restore else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rest", required=True, help="the JobManager's REST URL")
    parser.add_argument("--job", required=True, help="the job's name in the stack file")
    parser.add_argument("--digest", required=True, help="digest of its SQL and settings")
    parser.add_argument("--work", required=True, type=Path, help="folder shared with the client")
    parser.add_argument("--jar", action="append", default=[], help="a connector jar's URL")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE job setting")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds in all (600)")
    parser.add_argument("--state-version", default="", help="the layout of the job's state")
    args = parser.parse_args(argv)
    settings = dict(item.split("=", 1) for item in args.set)
    try:
        (args.work / "jars").mkdir(parents=True, exist_ok=True)
        for url in args.jar:
            print(f"fetched {fetch_jar(url, args.work / 'jars')}", flush=True)
        print(
            prepare(
                args.rest,
                args.job,
                args.digest,
                settings=settings,
                work=args.work,
                timeout=args.timeout,
                state_version=args.state_version,
            )
        )
    except Refused as exc:
        print(f"flink job {args.job}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
