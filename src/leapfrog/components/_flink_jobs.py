"""The stack's Flink jobs: SQL files through Flink's SQL client, PyFlink scripts through
`flink run -py`; stopped with savepoints.

Submission runs `org.apache.flink.table.client.SqlClient -i <settings> -f <file>` (the
`sql-client.sh -f` of the distribution) against the cluster's REST address: the file is
run exactly as a user would run it by hand, statement by statement with Flink's own
parser, and no long-running SQL gateway costs the machine memory between submissions.
The client's embedded gateway listens on localhost for the few seconds it runs. Flink's
error for a bad statement is the client's `[ERROR] ... Reason:` block, kept as the job's
error with the file's name.

A PyFlink script (`.py`) is run as `flink run --detached --python <file>` with the Flink
environment's own interpreter for the client and for the TaskManagers' Python workers, the
connectors' jars on the job's classpath (`-C`), and the same settings as SQL: the job's
name, parallelism, restart strategy, and the state to resume from. Its error is the
script's last exception line (Flink's message, carried through Py4J) or the CLI's.

Each job's record (`state/jobs.json` in the data directory: fingerprint, job id, last
savepoint, last error) lets a start resume a job from where it stopped: the newer of its
last savepoint and its last retained checkpoint.
"""

from __future__ import annotations

import json
import re
import string
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from leapfrog.shared.files import atomic_write_json, read_json

__all__ = [
    "ACTIVE_STATES",
    "RESTART_SETTINGS",
    "JobEnded",
    "JobSpec",
    "JobsState",
    "cluster_jobs",
    "extract_error",
    "extract_python_error",
    "newest_restore_point",
    "overview",
    "stop_with_savepoint",
    "submit",
    "submit_python",
]

STATE_FILE = "state/jobs.json"
"""Written by the cluster's process, as the instance's user: not under a folder the runtime
creates for the files it writes (`conf/`, `jobs/`), which the app user cannot write."""
ACTIVE_STATES = frozenset(
    {"INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "RECONCILING", "FAILING", "CANCELLING"}
)
ENDED_STATES = frozenset({"FINISHED", "CANCELED", "FAILED"})
"""Flink's globally terminal job states: such a job has nothing left to stop."""
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_JOB_ID = re.compile(r"Job ID: ([0-9a-f]{32})")
_SUBMITTED = re.compile(r"submitted with JobID ([0-9a-f]{32})")
_SUBMIT_TIMEOUT = 300.0
RESTART_SETTINGS: Mapping[str, Mapping[str, str]] = {
    "exponential-delay": {"restart-strategy.type": "exponential-delay"},
    "fixed-delay": {
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": "3",
        "restart-strategy.fixed-delay.delay": "5 s",
    },
    "none": {"restart-strategy.type": "none"},
}


@dataclass(frozen=True)
class JobSpec:
    """One declared job as the cluster's process submits it."""

    name: str
    file: str
    """The file as the stack file names it (for messages)."""
    copy: str
    """Its copy in the data directory, written before each start."""
    parallelism: int
    restart_strategy: str
    jars: tuple[str, ...]
    fingerprint: str
    kind: str = "sql"
    """`sql` (the SQL client) or `python` (a PyFlink script, `flink run -py`)."""
    state_version: str = ""
    """The layout of the job's state; a savepoint or checkpoint recorded under another is
    not restored (leapfrog's own job sets it: `_flink_stats.STATE_VERSION`)."""

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "jars": list(self.jars)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> JobSpec:
        return cls(**{**raw, "jars": tuple(raw.get("jars", ()))})


class JobsState:
    """The jobs' records in the data directory; written by the cluster's process only."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STATE_FILE

    def read(self) -> dict[str, dict[str, Any]]:
        found = read_json(self.path)
        return {str(k): v for k, v in found.items() if isinstance(v, dict)} if found else {}

    def update(self, name: str, **fields: Any) -> None:
        records = self.read()
        records[name] = {**records.get(name, {}), **fields}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.path, records, mode=0o600)


def overview(rest_url: str, timeout: float = 3.0) -> dict[str, Any]:
    response = httpx.get(f"{rest_url}/overview", timeout=timeout)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def cluster_jobs(rest_url: str, timeout: float = 3.0) -> list[dict[str, Any]]:
    """`/jobs/overview`: every job the cluster knows, newest first."""
    response = httpx.get(f"{rest_url}/jobs/overview", timeout=timeout)
    response.raise_for_status()
    jobs: list[dict[str, Any]] = response.json().get("jobs", [])
    return sorted(jobs, key=lambda job: -int(job.get("start-time", 0)))


class JobEnded(RuntimeError):
    """The job ended by itself (a bounded job finished) before its stop-with-savepoint:
    there is nothing to stop and nothing to resume."""


def stop_with_savepoint(rest_url: str, job_id: str, target: Path, timeout: float) -> str:
    """Stop the job with a savepoint in `target`; its location. Raises RuntimeError, and
    JobEnded when the job has already ended.

    A failed stop-with-savepoint leaves the job running, so it is tried again until the
    timeout: right after a TaskManager is replaced, the job is RUNNING while its tasks are
    still being deployed, and Flink refuses a savepoint until they all run. A job that
    ended meanwhile (Flink answers that it is not found) is not waited for.
    """
    deadline = time.monotonic() + timeout
    failure = "?"
    with httpx.Client(timeout=10.0) as client:
        while time.monotonic() < deadline:
            outcome = _one_stop_with_savepoint(client, rest_url, job_id, target, deadline)
            if outcome.location is not None:
                return outcome.location
            failure = outcome.failure
            state = _job_state(client, rest_url, job_id)
            if state in ENDED_STATES:
                raise JobEnded(f"the job had already ended ({state})")
            time.sleep(1.0)
    raise RuntimeError(f"no savepoint within {timeout:g}s (last failure: {failure})")


def _job_state(client: httpx.Client, rest_url: str, job_id: str) -> str | None:
    """The job's state as the REST API tells it; None when it does not answer."""
    try:
        response = client.get(f"{rest_url}/jobs/{job_id}")
    except httpx.HTTPError:
        return None
    if response.is_error:
        return None
    state = response.json().get("state")
    return str(state) if state is not None else None


class _StopOutcome(NamedTuple):
    location: str | None
    failure: str


def _one_stop_with_savepoint(
    client: httpx.Client, rest_url: str, job_id: str, target: Path, deadline: float
) -> _StopOutcome:
    response = client.post(
        f"{rest_url}/jobs/{job_id}/stop",
        json={"targetDirectory": f"file://{target}", "drain": False},
    )
    if response.is_error:  # e.g. the job is restarting: not stoppable yet
        return _StopOutcome(None, f"HTTP {response.status_code}: {response.text[:200]}")
    trigger = response.json()["request-id"]
    while time.monotonic() < deadline:
        answer = client.get(f"{rest_url}/jobs/{job_id}/savepoints/{trigger}").json()
        if answer.get("status", {}).get("id") == "COMPLETED":
            operation = answer.get("operation", {})
            if "location" in operation:
                return _StopOutcome(str(operation["location"]), "")
            cause = operation.get("failure-cause", {}).get("stack-trace", "")
            return _StopOutcome(None, cause.splitlines()[0] if cause else "?")
        time.sleep(0.5)
    return _StopOutcome(None, "still in progress")


def newest_restore_point(
    data_dir: Path, record: Mapping[str, Any], state_version: str = ""
) -> str | None:
    """The newer of the job's last savepoint and its last retained checkpoint, if they
    hold state of the job's `state_version` (Flink fails a job, at every restart, whose
    state it cannot read)."""
    if str(record.get("state_version", "")) != state_version:
        return None
    candidates: list[tuple[float, str]] = []
    savepoint = record.get("savepoint")
    if isinstance(savepoint, str):
        path = Path(savepoint.removeprefix("file:").removeprefix("//"))
        if (path / "_metadata").is_file():
            candidates.append(((path / "_metadata").stat().st_mtime, savepoint))
    job_id = record.get("job_id")
    if isinstance(job_id, str):
        for metadata in (data_dir / "checkpoints" / job_id).glob("chk-*/_metadata"):
            candidates.append((metadata.stat().st_mtime, f"file://{metadata.parent}"))
    return max(candidates)[1] if candidates else None


def extract_error(output: str, sql: str = "") -> str | None:
    """Flink's message from the SQL client's output: which statement, and its reason."""
    marker = output.find("[ERROR]")
    if marker < 0:
        return None
    end = output.find("\x1b[0m", marker)  # the client colours the error block
    block = _ANSI.sub("", output[marker : end if end > 0 else None])
    lines = [
        line.strip()
        for line in block.split("Reason:", 1)[-1].splitlines()
        if line.strip() and not line.strip().startswith("at ")
    ]
    reason = " ".join(lines[:3]) or block.strip()
    before = _ANSI.sub("", output[:marker]).split("Executing SQL from file.", 1)[-1]
    index = before.count("Execute statement succeeded.") + before.count(
        "has been successfully submitted"
    )
    # For the message only: a `;` inside a literal may shift it, never the submission.
    statements = [" ".join(s.split()) for s in sql.split(";") if s.strip()]
    if index < len(statements):
        return f"statement {index + 1} ({statements[index][:80]}): {reason}"
    return reason


def submit(
    job: JobSpec,
    *,
    java: str,
    classpath: str,
    client_conf: Path,
    work_dir: Path,
    env: Mapping[str, str],
    restore: str | None,
    java_opts: Sequence[str] = (),
) -> list[str]:
    """Run the job's file through the SQL client; the ids of the jobs it submitted.
    Raises RuntimeError with Flink's message."""
    try:
        sql = Path(job.copy).read_text()
    except OSError as exc:
        raise RuntimeError(f"cannot read it: {exc.strerror or exc}") from None
    work_dir.mkdir(parents=True, exist_ok=True)
    script = work_dir / f"{job.name}.sql"
    sql = string.Template(sql).safe_substitute(env)
    script.write_text(sql)
    settings = _settings(job, restore)
    init = work_dir / f"{job.name}.init.sql"
    init.write_text("".join(f"SET '{k}' = '{v}';\n" for k, v in settings.items()))
    argv = [
        java,
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        *java_opts,
        f"-Duser.home={work_dir}",
        f"-Dlog.file={work_dir / 'sql-client.log'}",
        f"-Dlog4j.configurationFile=file:{client_conf / 'log4j-cli.properties'}",
        "-cp",
        classpath,
        "org.apache.flink.table.client.SqlClient",
        "--history",
        str(work_dir / "sql-history"),
        "-i",
        str(init),
        "-f",
        str(script),
    ]
    for jar in job.jars:
        argv += ["--jar", jar]
    try:
        done = subprocess.run(
            argv,
            env={**env, "FLINK_CONF_DIR": str(client_conf)},
            capture_output=True,
            text=True,
            timeout=_SUBMIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the SQL client took over {_SUBMIT_TIMEOUT:g}s") from None
    output = done.stdout + done.stderr
    error = extract_error(output, sql)
    if error is not None:
        raise RuntimeError(error)
    ids = _JOB_ID.findall(_ANSI.sub("", output))
    if done.returncode != 0 or not ids:
        tail = " ".join(_ANSI.sub("", output).strip().splitlines()[-3:])
        raise RuntimeError(
            f"no job submitted (exit {done.returncode}): {tail or 'no output'}; "
            "a job file needs an INSERT (or EXECUTE STATEMENT SET)"
        )
    return ids


def _settings(job: JobSpec, restore: str | None) -> dict[str, str]:
    settings = {
        "pipeline.name": job.name,
        "parallelism.default": str(job.parallelism),
        **RESTART_SETTINGS[job.restart_strategy],
    }
    if restore is not None:
        settings["execution.state-recovery.path"] = restore
        # A changed job may have dropped an operator; its state is then left behind.
        settings["execution.state-recovery.ignore-unclaimed-state"] = "true"
    return settings


_PY_EXCEPTION = re.compile(r"^(?:[\w.]+\.)?\w*(?:Error|Exception)\b.*?: .+", re.MULTILINE)


def extract_python_error(output: str) -> str | None:
    """The script's failure: the last exception line of its traceback (a Flink error
    arrives as `pyflink.util.exceptions.TableException: org.apache...: <message>`), or
    the CLI's own `The program finished with the following exception:` cause."""
    text = _ANSI.sub("", output)
    if "Traceback (most recent call last)" in text:
        tail = text.rsplit("Traceback (most recent call last)", 1)[1]
        # What follows is the CLI's "Python process exits with code: 1", no news.
        tail = tail.split("org.apache.flink.client.program.ProgramAbortException", 1)[0]
        found = list(_PY_EXCEPTION.finditer(tail))
        if found:
            line = found[-1].group(0).strip()
            # Py4J's "An error occurred while calling o8.executeSql." has Flink's own
            # exception on the next line, after ": ".
            after = tail[found[-1].end() :].lstrip("\n").splitlines()
            if after and after[0].startswith(": "):
                line += " " + after[0][2:].strip()
            return line[:600]
    marker = text.find("The program finished with the following exception:")
    if marker >= 0:
        causes = [
            line.strip()
            for line in text[marker:].splitlines()[1:]
            if line.strip() and not line.strip().startswith("at ")
        ]
        return " ".join(causes[:2])[:600] or None
    return None


def submit_python(
    job: JobSpec,
    *,
    flink: str,
    python: str,
    client_conf: Path,
    work_dir: Path,
    env: Mapping[str, str],
    restore: str | None,
) -> list[str]:
    """Run the job's PyFlink script with `flink run --detached --python`; the ids of the
    jobs it submitted. Raises RuntimeError with Flink's (or Python's) message."""
    source = Path(job.copy)
    if not source.is_file():
        raise RuntimeError("cannot read it: no such file")
    work_dir.mkdir(parents=True, exist_ok=True)
    argv = [flink, "run", "--detached", "--python", str(source)]
    argv += ["-pyclientexec", python, "-pyexec", python, "--parallelism", str(job.parallelism)]
    # Python functions run in worker processes (Flink's process mode): the thread mode's
    # PEMJA fails on Java 17 (`NoSuchFieldException: loadedLibraryNames`).
    for key, value in _settings(job, restore).items():
        argv.append(f"-D{key}={value}")
    for jar in job.jars:
        argv += ["--classpath", Path(jar).resolve().as_uri()]
    log_dir = work_dir / "log"
    log_dir.mkdir(exist_ok=True)
    try:
        done = subprocess.run(
            argv,
            env={
                **env,
                "FLINK_CONF_DIR": str(client_conf),
                "FLINK_LOG_DIR": str(log_dir),
                "JVM_ARGS": "-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1",
                "PYFLINK_CLIENT_EXECUTABLE": python,
            },
            capture_output=True,
            text=True,
            timeout=_SUBMIT_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
            cwd=work_dir,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"`flink run` took over {_SUBMIT_TIMEOUT:g}s") from None
    output = done.stdout + done.stderr
    ids = _SUBMITTED.findall(_ANSI.sub("", output))
    if done.returncode != 0 or not ids:
        error = extract_python_error(output)
        if error is None:
            tail = " ".join(_ANSI.sub("", output).strip().splitlines()[-3:])
            error = f"no job submitted (exit {done.returncode}): {tail or 'no output'}"
        if not ids and done.returncode == 0:
            error += "; a script must submit its job (an INSERT, or env.execute())"
        raise RuntimeError(error)
    return ids


def state_json(records: Mapping[str, Any]) -> str:
    return json.dumps(records, indent=1, sort_keys=True)
