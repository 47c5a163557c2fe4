"""The submit Job's preparation (`_flink_kube_submit`, the init container on Kubernetes)
against a stand-in for the JobManager's REST API and Maven Central on 127.0.0.1: which
version of a job runs, the stop with a savepoint, the resume, the checked jar download."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from leapfrog.components._flink_kube_submit import main

JAR = b"PK\x03\x04 a connector"


class _Flink:
    """What the stand-in serves and what it was asked."""

    def __init__(self) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.refusals = 0
        """Stops refused before one is taken (tasks still deploying)."""


@pytest.fixture
def flink() -> Iterator[tuple[str, _Flink]]:
    state = _Flink()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int, body: Any, raw: bytes | None = None) -> None:
            data = raw if raw is not None else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/jobs/overview":
                self._answer(200, {"jobs": state.jobs})
            elif "/savepoints/" in self.path:
                job = self.path.split("/")[2]
                location = f"file:/flink-data/savepoints/savepoint-{job}"
                self._answer(
                    200, {"status": {"id": "COMPLETED"}, "operation": {"location": location}}
                )
            elif self.path == "/maven/c.jar":
                self._answer(200, None, JAR)
            elif self.path == "/maven/c.jar.sha1":
                self._answer(200, None, hashlib.sha1(JAR).hexdigest().encode() + b"  c.jar\n")
            elif self.path == "/maven/bad.jar":
                self._answer(200, None, JAR + b"changed")
            elif self.path == "/maven/bad.jar.sha1":
                self._answer(200, None, hashlib.sha1(JAR).hexdigest().encode())
            else:
                self._answer(404, {"errors": ["Not found"]})

        def do_POST(self) -> None:
            job = self.path.split("/")[2]
            if state.refusals:
                state.refusals -= 1
                self._answer(500, {"errors": ["Not all required tasks are currently running."]})
                return
            state.stopped.append(job)
            self._answer(202, {"request-id": f"trigger-{job}"})

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def _run(rest: str, work: Path, *extra: str) -> int:
    args = ["--rest", rest, "--job", "count", "--digest", "d2", "--work", str(work)]
    return main([*args, "--set", "parallelism.default=2", "--timeout", "20", *extra])


def test_a_first_submission_names_the_version_and_fetches_checked_jars(
    flink: tuple[str, _Flink], tmp_path: Path
) -> None:
    rest, state = flink
    state.jobs = [{"jid": "other", "name": "counter@d1", "state": "RUNNING"}]  # not this job
    assert _run(rest, tmp_path, "--jar", f"{rest}/maven/c.jar") == 0
    assert (tmp_path / "jars" / "c.jar").read_bytes() == JAR
    init = (tmp_path / "init.sql").read_text()
    assert "SET 'pipeline.name' = 'count@d2';" in init
    assert "SET 'parallelism.default' = '2';" in init
    assert "state-recovery" not in init
    assert not (tmp_path / "skip").exists() and state.stopped == []


def test_the_same_version_running_is_not_submitted_again(
    flink: tuple[str, _Flink], tmp_path: Path
) -> None:
    rest, state = flink
    state.jobs = [{"jid": "j1", "name": "count@d2", "state": "RUNNING"}]
    assert _run(rest, tmp_path) == 0
    assert (tmp_path / "skip").read_text().strip() == "count@d2"
    assert state.stopped == []


def test_an_older_version_stops_with_a_savepoint_and_the_new_one_resumes_from_it(
    flink: tuple[str, _Flink], tmp_path: Path
) -> None:
    rest, state = flink
    state.jobs = [
        {"jid": "old", "name": "count@d1", "state": "RUNNING"},
        {"jid": "gone", "name": "count@d0", "state": "CANCELED"},  # ended: left alone
    ]
    state.refusals = 1  # the first stop is refused, as while tasks still deploy
    assert _run(rest, tmp_path) == 0
    assert state.stopped == ["old"]
    init = (tmp_path / "init.sql").read_text()
    assert (
        "SET 'execution.state-recovery.path' = 'file:/flink-data/savepoints/savepoint-old';" in init
    )


def test_an_older_version_whose_state_has_another_layout_is_stopped_but_not_restored(
    flink: tuple[str, _Flink], tmp_path: Path
) -> None:
    rest, state = flink
    state.jobs = [{"jid": "old", "name": "count@d1", "state": "RUNNING"}]  # no state version
    assert _run(rest, tmp_path, "--state-version", "2") == 0
    assert state.stopped == ["old"]
    init = (tmp_path / "init.sql").read_text()
    assert "SET 'pipeline.name' = 'count@d2@2';" in init
    assert "state-recovery" not in init

    state.jobs = [{"jid": "older", "name": "count@d1@2", "state": "RUNNING"}]  # same layout
    assert _run(rest, tmp_path, "--state-version", "2") == 0
    assert "savepoint-older" in (tmp_path / "init.sql").read_text()


def test_a_jar_whose_digest_differs_fails_the_preparation(
    flink: tuple[str, _Flink], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rest, _ = flink
    assert _run(rest, tmp_path, "--jar", f"{rest}/maven/bad.jar") == 1
    assert "its SHA-1 is" in capsys.readouterr().err
    assert not (tmp_path / "jars" / "bad.jar").exists()
    assert not (tmp_path / "init.sql").exists()


def test_an_unreachable_jobmanager_is_reported_once_the_time_is_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            *("--rest", "http://127.0.0.1:9", "--job", "count", "--digest", "d2"),
            *("--work", str(tmp_path), "--timeout", "0.5"),
        ]
    )
    assert code == 1
    assert "did not answer" in capsys.readouterr().err
