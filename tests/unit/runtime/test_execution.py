"""`leapfrog exec`'s runner on real child processes (no supervisor): each context's
environment and working directory, the parallelism limit, timeouts, errors."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from leapfrog.runtime.local.execution import TIMED_OUT, _run_all


def context(name: str, cwd: Path, **env: str) -> dict[str, Any]:
    return {
        "instance": name,
        "unit": name.rpartition("-")[0],
        "state": "healthy",
        "address": "127.0.0.1",
        "port": None,
        "cwd": str(cwd),
        "env": {"PATH": os.environ["PATH"], "LEAPFROG_INSTANCE": name, **env},
        "user": None,
        "uid": None,
        "gid": None,
    }


def run(contexts: list[dict[str, Any]], argv: list[str], **kw: Any) -> list[Any]:
    lines: list[tuple[str, str, str]] = []
    results = asyncio.run(
        _run_all(
            contexts, argv, kw.get("parallel", 0), kw.get("timeout"), lambda *a: lines.append(a)
        )
    )
    return [results, lines]


def test_each_context_its_environment_and_directory(tmp_path: Path) -> None:
    dirs = [tmp_path / n for n in ("a", "b")]
    for d in dirs:
        d.mkdir()
    ctxs = [context("web-1", dirs[0], X="one"), context("web-2", dirs[1], X="two")]
    results, lines = run(ctxs, ["sh", "-c", 'echo "$LEAPFROG_INSTANCE $X $(pwd)"; echo oops >&2'])
    assert [r.stdout for r in results] == [[f"web-1 one {dirs[0]}"], [f"web-2 two {dirs[1]}"]]
    assert all(r.ok and r.exit_code == 0 for r in results)
    assert ("web-1", "stderr", "oops") in lines and (
        "web-2",
        "stdout",
        f"web-2 two {dirs[1]}",
    ) in lines
    # only the instance's environment: nothing of the caller's leaks in
    results, _ = run([context("web-1", tmp_path)], ["sh", "-c", "echo ${HOME:-unset}"])
    assert results[0].stdout == ["unset"]


def test_failures_are_reported_per_instance(tmp_path: Path) -> None:
    ctxs = [context(f"w-{i}", tmp_path) for i in (1, 2, 3)]
    results, _ = run(ctxs, ["sh", "-c", 'test "$LEAPFROG_INSTANCE" != w-2 || exit 7'])
    assert [r.exit_code for r in results] == [0, 7, 0]
    assert [r.ok for r in results] == [True, False, True]
    missing, _ = run(ctxs[:1], ["no-such-program-xyz"])
    assert missing[0].exit_code is None and "command not found" in missing[0].error
    stopped = {**ctxs[0], "state": "stopped"}
    skipped, _ = run([stopped], ["true"])
    assert skipped[0].error == "the instance is stopped" and not skipped[0].ok


def test_parallel_limit_and_timeout(tmp_path: Path) -> None:
    ctxs = [context(f"w-{i}", tmp_path) for i in (1, 2, 3, 4)]
    began = time.monotonic()
    results, _ = run(ctxs, ["sleep", "0.4"], parallel=2)
    took = time.monotonic() - began
    assert all(r.ok for r in results)
    assert took >= 0.8  # two rounds of two, never four at once
    # a timeout kills the command and what it started (its process group)
    marker = tmp_path / "survived"
    script = f"(sleep 2; touch {marker}) & sleep 30"
    results, _ = run(ctxs[:1], ["sh", "-c", script], timeout=0.5)
    assert results[0].timed_out and results[0].exit_code == TIMED_OUT and not results[0].ok
    time.sleep(2.5)
    assert not marker.exists()
