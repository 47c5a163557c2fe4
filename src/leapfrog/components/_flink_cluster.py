"""The process of a `flink` instance: one JobManager and N TaskManagers, and its jobs.

`python -m leapfrog.components._flink_cluster <data>/cluster.json` is what the runtime
starts for the instance (so one instance = one session cluster, and the component's
contract of one process per instance holds). It starts Flink's own
`jobmanager.sh start-foreground` and `taskmanager.sh start-foreground` as its children,
each in its own process group and tied to it with PR_SET_PDEATHSIG (a kill -9 of this
process takes them along; the runtime's cgroup holds them too), their
output on its own stdout, which the runtime captures; every line names its process.

- A TaskManager that exits is started again (1 s, doubling to 30 s while it keeps dying);
  Flink restarts the jobs it ran from their last checkpoint.
- The JobManager exiting ends the instance (the runtime restarts it).
- Once the cluster has its TaskManagers, the declared jobs are submitted (`_flink_jobs`),
  each resumed from its newest savepoint or checkpoint.
- On SIGTERM (`down`, a restart) each running job stops with a savepoint first, recorded
  for the next start; then the TaskManagers and the JobManager stop.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from leapfrog.components._flink_jobs import (
    ACTIVE_STATES,
    JobEnded,
    JobSpec,
    JobsState,
    cluster_jobs,
    newest_restore_point,
    overview,
    stop_with_savepoint,
    submit,
    submit_python,
)

__all__ = ["main"]

_PR_SET_PDEATHSIG = 1
_CHILD_STOP = 20.0
_SUBMITTERS = 3
"""Jobs submitted at once (each a client JVM: more would only share the cores)."""


def _say(line: str, level: str = "INFO") -> None:
    """A line of its own in the layout of the Flink processes' (the same log format)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    millis = int(time.time() * 1000) % 1000
    print(f"{stamp},{millis:03d} {level:<5} leapfrog.flink - [cluster] {line}", flush=True)


def _die_with_parent() -> Callable[[], None]:
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


class _Child:
    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.popen: subprocess.Popen[bytes] | None = None
        self.backoff = 1.0
        self.started = 0.0
        self.due = 0.0

    def start(self) -> None:
        self.popen = subprocess.Popen(
            self.argv,
            env={**self.env, "LEAPFROG_FLINK_PROCESS": self.name},
            stdin=subprocess.DEVNULL,
            # Its own process group: the runtime's stop signal goes to this process's
            # group, and the jobs' savepoints need the cluster up until they are taken.
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # noqa: PLW1509 - prctl only
        )
        self.started = time.monotonic()

    def exited(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()


class Cluster:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.data = Path(spec["data_dir"])
        self.rest = str(spec["rest_url"])
        self.state = JobsState(self.data)
        self.state_lock = threading.Lock()
        """The jobs' records are read, changed and written whole: one writer at a time."""
        self.stopping = threading.Event()
        env = {**os.environ, **spec["env"]}
        bin_dir = Path(spec["bin"])
        self.jobmanager = _Child(
            "jobmanager", [str(bin_dir / "jobmanager.sh"), "start-foreground"], env
        )
        self.taskmanagers = [
            _Child(f"taskmanager-{i}", [str(bin_dir / "taskmanager.sh"), "start-foreground"], env)
            for i in range(1, int(spec["taskmanagers"]) + 1)
        ]
        self.jobs = [JobSpec.from_json(raw) for raw in spec["jobs"]]
        self.submitting: threading.Thread | None = None

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        for job in self.jobs:  # what `setup` waits for: each job handled by this start
            self.state.update(job.name, pending=True)
        for child in (self.jobmanager, *self.taskmanagers):
            child.start()
        _say(f"started the JobManager and {len(self.taskmanagers)} TaskManager(s)")
        self.submitting = threading.Thread(target=self._submit_jobs, daemon=True)
        self.submitting.start()
        code = 0
        while not self.stopping.wait(0.5):
            code_jm = self.jobmanager.exited()
            if code_jm is not None:
                _say(f"the JobManager exited with {code_jm}; stopping the TaskManagers")
                code = code_jm or 1
                break
            self._restart_dead_taskmanagers()
        else:
            self._savepoint_jobs()
        self._stop_children()
        return code

    def _restart_dead_taskmanagers(self) -> None:
        now = time.monotonic()
        for child in self.taskmanagers:
            code = child.exited()
            if code is None:
                if now - child.started > 60:
                    child.backoff = 1.0
                continue
            if child.due == 0.0:
                child.due = now + child.backoff
                _say(f"{child.name} exited with {code}; starting it again in {child.backoff:g}s")
            elif now >= child.due:
                child.due, child.backoff = 0.0, min(child.backoff * 2, 30.0)
                child.start()

    def _stop_children(self) -> None:
        for child in (*self.taskmanagers, self.jobmanager):
            child.stop()
        deadline = time.monotonic() + _CHILD_STOP
        for child in (*self.taskmanagers, self.jobmanager):
            if child.popen is None:
                continue
            try:
                child.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.popen.kill()
                child.popen.wait()

    # -- jobs ------------------------------------------------------------------------

    def _wait_for_taskmanagers(self) -> bool:
        wanted = len(self.taskmanagers)
        while not self.stopping.is_set():
            try:
                if int(overview(self.rest).get("taskmanagers", 0)) >= wanted:
                    return True
            except Exception:  # not answering yet
                pass
            self.stopping.wait(1.0)
        return False

    def _submit_jobs(self) -> None:
        if not self.jobs or not self._wait_for_taskmanagers():
            return
        records = self.state.read()
        # Each submission is a client JVM that spends seconds starting: run side by side,
        # a few at a time, they take about as long as the slowest instead of the sum.
        with ThreadPoolExecutor(max_workers=_SUBMITTERS, thread_name_prefix="submit") as pool:
            for job in self.jobs:
                pool.submit(self._submit_one, job, records.get(job.name, {}))

    def _submit_one(self, job: JobSpec, record: dict[str, Any]) -> None:
        if self.stopping.is_set():
            return
        restore = newest_restore_point(self.data, record, job.state_version)
        recorded = str(record.get("state_version", ""))
        if restore is None and newest_restore_point(self.data, record, recorded):
            _say(f"job {job.name}: its state's layout changed; it starts without the old state")
        _say(f"submitting job {job.name} ({job.file})" + (f" from {restore}" if restore else ""))
        try:
            ids = self._submit(job, restore)
        except Exception as exc:
            message = f"{job.file}: {exc}"
            _say(f"job {job.name} was not submitted: {message}", "ERROR")
            with self.state_lock:
                self.state.update(
                    job.name, error=message, fingerprint=job.fingerprint, pending=False
                )
            return
        with self.state_lock:
            self.state.update(
                job.name,
                error=None,
                job_id=ids[-1],
                fingerprint=job.fingerprint,
                state_version=job.state_version,
                restored_from=restore,
                submitted_at=time.time(),
                pending=False,
            )
        _say(f"job {job.name} submitted: {', '.join(ids)}")

    def _submit(self, job: JobSpec, restore: str | None) -> list[str]:
        env = {**os.environ, **self.spec["env"]}
        work_dir = self.data / "state" / "submit" / job.name  # its own: clients run at once
        client_conf = Path(self.spec["client_conf"])
        if job.kind == "python":
            return submit_python(
                job,
                flink=str(Path(self.spec["bin"]) / "flink"),
                python=self.spec["python"],
                client_conf=client_conf,
                work_dir=work_dir,
                env=env,
                restore=restore,
            )
        return submit(
            job,
            java=self.spec["java"],
            classpath=self.spec["sql_client"],
            client_conf=client_conf,
            work_dir=work_dir,
            env=env,
            restore=restore,
            java_opts=self.spec.get("client_java_opts", []),
        )

    def _savepoint_jobs(self) -> None:
        if self.submitting is not None:
            self.submitting.join(timeout=60)  # a submission half done would be lost
        try:
            running = [j for j in cluster_jobs(self.rest) if j.get("state") in ACTIVE_STATES]
        except Exception as exc:
            _say(f"no savepoints: the REST API did not answer ({exc})", "WARN")
            return
        declared = {job.name for job in self.jobs}
        # A script may name its job itself (`env.execute("x")`): its recorded id tells.
        by_id = {
            str(record["job_id"]): name
            for name, record in self.state.read().items()
            if name in declared and record.get("job_id")
        }
        for job in running:
            name = by_id.get(str(job.get("jid")), str(job.get("name")))
            if name not in declared:
                continue
            target = self.data / "savepoints" / name
            try:
                location = stop_with_savepoint(
                    self.rest, str(job["jid"]), target, float(self.spec["savepoint_timeout"])
                )
            except JobEnded as exc:
                _say(f"job {name}: no savepoint needed: {exc}")
                continue
            except Exception as exc:
                _say(f"job {name}: no savepoint ({exc}); it resumes from its checkpoint", "WARN")
                continue
            with self.state_lock:
                self.state.update(name, savepoint=location, job_id=str(job["jid"]))
            _say(f"job {name} stopped with savepoint {location}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m leapfrog.components._flink_cluster CLUSTER.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    return Cluster(spec).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
