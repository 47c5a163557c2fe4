"""Flink against the real cluster: one JobManager and two TaskManagers on their own
address, the stack's SQL jobs submitted, a bad job reported without harming the rest, a
killed TaskManager started again, and a job's state carried over a stop and start by a
savepoint. One cluster for the module (it takes ~20 s to start)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from leapfrog.components._flink_jobs import STATE_FILE
from leapfrog.components.postgres import Postgres
from leapfrog.shared.files import read_json
from leapfrog.testing import RunningComponent, run_component, scratch_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ADDRESS = "127.0.0.75"
POSTGRES_ADDRESS = "127.0.0.98"
GOOD_SQL = """
CREATE TABLE numbers (n BIGINT) WITH (
  'connector' = 'datagen', 'rows-per-second' = '20',
  'fields.n.kind' = 'sequence', 'fields.n.start' = '1', 'fields.n.end' = '100000'
);
CREATE TABLE sink (n BIGINT) WITH ('connector' = 'blackhole');
INSERT INTO sink SELECT n FROM numbers;
"""
BAD_SQL = "CREATE TABLE t (n BIGINT) WITH ('connector' = 'datagen');\nINSERT INTO t SELEC n;\n"
GOOD_PY = """
import os
from pyflink.table import EnvironmentSettings, TableEnvironment

t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
t_env.execute_sql(
    "CREATE TABLE numbers (n BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '20',"
    " 'fields.n.kind' = 'sequence', 'fields.n.start' = '1', 'fields.n.end' = '100000')"
)
t_env.execute_sql("CREATE TABLE sink (n BIGINT) WITH ('connector' = 'blackhole')")
print("cluster env seen:", os.environ["FLINK_CONF_DIR"] != "")
t_env.execute_sql("INSERT INTO sink SELECT n * 2 FROM numbers")
"""
JDBC_PY = """
from pyflink.table import EnvironmentSettings, TableEnvironment

t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
t_env.execute_sql(
    "CREATE TABLE numbers (n BIGINT) WITH ('connector' = 'datagen',"
    " 'fields.n.kind' = 'sequence', 'fields.n.start' = '1', 'fields.n.end' = '50')"
)
t_env.execute_sql(
    "CREATE TABLE squares (n BIGINT, sq BIGINT, PRIMARY KEY (n) NOT ENFORCED) WITH ("
    " 'connector' = 'jdbc', 'url' = '@URL@',"
    " 'table-name' = 'squares', 'username' = 'postgres', 'password' = '@PASSWORD@')"
)
t_env.execute_sql("INSERT INTO squares SELECT n, n * n FROM numbers")
"""
BAD_PY = """
from pyflink.table import EnvironmentSettings, TableEnvironment

t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
t_env.execute_sql("INSERT INTO nowhere SELECT 1")
"""


@pytest.fixture(scope="module")
def postgres() -> Iterator[tuple[RunningComponent, str]]:
    """PostgreSQL for the JDBC connector's job: its table, and the superuser's password."""
    with (
        scratch_dir("lf-flink-pg-") as base,
        run_component("postgres", {}, base, address=POSTGRES_ADDRESS) as running,
    ):
        comp = running.component
        assert isinstance(comp, Postgres)
        password = comp.credentials(running.options, running.where)["postgres"]
        with psycopg.connect(
            host=POSTGRES_ADDRESS, port=running.where.port, user="postgres",
            dbname="postgres", password=password, autocommit=True,
        ) as conn:  # fmt: skip
            conn.execute("CREATE TABLE squares (n BIGINT PRIMARY KEY, sq BIGINT)")
        yield running, password


@pytest.fixture(scope="module")
def cluster(postgres: tuple[RunningComponent, str]) -> Iterator[RunningComponent]:
    pg, password = postgres
    url = f"jdbc:postgresql://{POSTGRES_ADDRESS}:{pg.where.port}/postgres"
    with scratch_dir("lf-flink-") as base:
        jobs = base / "jobs"
        jobs.mkdir()
        (jobs / "numbers.sql").write_text(GOOD_SQL)
        (jobs / "broken.sql").write_text(BAD_SQL)
        (jobs / "pynumbers.py").write_text(GOOD_PY)
        (jobs / "pybroken.py").write_text(BAD_PY)
        (jobs / "tojdbc.py").write_text(
            JDBC_PY.replace("@URL@", url).replace("@PASSWORD@", password)
        )
        for path in (jobs, *jobs.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        options = {
            "taskmanagers": 2,
            "slots": 3,
            "checkpoint_interval": "2s",
            "jobs": {
                "numbers": {"file": str(jobs / "numbers.sql"), "parallelism": 2},
                "broken": {"file": str(jobs / "broken.sql")},
                "pynumbers": {
                    "file": str(jobs / "pynumbers.py"),
                    "parallelism": 2,
                    "restart_strategy": "fixed-delay",
                },
                "pybroken": {"file": str(jobs / "pybroken.py")},
                "tojdbc": {"file": str(jobs / "tojdbc.py"), "connectors": ["jdbc"]},
            },
        }
        with run_component("flink", options, base, address=ADDRESS) as running:
            yield running


def rest(running: RunningComponent, path: str) -> Any:
    url = running.env()["FLINK_REST_URL"]
    response = httpx.get(f"{url}{path}", timeout=5.0)
    response.raise_for_status()
    return response.json()


def wait_for(what: str, check: Any, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:g}s (last: {last!r})")


def running_job(running: RunningComponent, name: str) -> dict[str, Any] | None:
    jobs = rest(running, "/jobs/overview")["jobs"]
    found = [j for j in jobs if j["name"] == name and j["state"] == "RUNNING"]
    return max(found, key=lambda j: j["start-time"]) if found else None


def descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            for child in task.read_text().split():
                found.add(int(child))
                todo.append(int(child))
    return found


def test_the_cluster_has_its_taskmanagers_and_slots(cluster: RunningComponent) -> None:
    assert cluster.env() == {"FLINK_REST_URL": f"http://{ADDRESS}:8081"}
    overview = rest(cluster, "/overview")
    assert (overview["taskmanagers"], overview["slots-total"]) == (2, 6)
    assert overview["flink-version"] == "2.2.1"
    health = cluster.health()
    assert health.ok and health.detail.startswith("2 taskmanager(s), 6 slots")
    page = httpx.get(cluster.env()["FLINK_REST_URL"] + "/", timeout=5.0)
    assert page.status_code == 200 and "<html" in page.text.lower()  # the web dashboard


def test_every_listener_is_on_the_instance_address(cluster: RunningComponent) -> None:
    assert cluster.popen is not None
    pids = descendants(cluster.popen.pid)
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    mine = [line for line in out.splitlines() if any(f"pid={p}," in line for p in pids)]
    assert len(mine) >= 5, out  # REST, RPC, blob, and each TaskManager's RPC and data
    for line in mine:
        local = line.split()[3]
        assert local.rsplit(":", 1)[0].removeprefix("[::ffff:").rstrip("]") == ADDRESS, line


def test_a_declared_job_runs_and_its_state_is_in_the_health_detail(
    cluster: RunningComponent,
) -> None:
    job = wait_for("the numbers job running", lambda: running_job(cluster, "numbers"))
    detail = rest(cluster, f"/jobs/{job['jid']}")
    assert {v["parallelism"] for v in detail["vertices"]} == {2}
    assert "numbers RUNNING" in cluster.health().detail


def test_a_bad_job_names_its_file_and_flinks_message(cluster: RunningComponent) -> None:
    health = cluster.health()
    assert health.ok, health.detail  # the cluster and the other job go on
    records = read_json(cluster.where.data_dir / STATE_FILE)
    error = records["broken"]["error"]
    assert error.startswith(str(Path(cluster.options.jobs["broken"].file)))
    assert "statement 2 (INSERT INTO t SELEC n): org.apache.calcite" in error, error
    assert "broken NOT SUBMITTED (" in health.detail
    assert "numbers RUNNING" in health.detail


def test_a_pyflink_script_runs_with_its_parallelism(
    cluster: RunningComponent,
) -> None:
    job = wait_for("the pynumbers job running", lambda: running_job(cluster, "pynumbers"))
    detail = rest(cluster, f"/jobs/{job['jid']}")
    assert {v["parallelism"] for v in detail["vertices"]} == {2}
    assert "pynumbers RUNNING" in cluster.health().detail


def test_a_failing_script_names_its_file_and_flinks_message(cluster: RunningComponent) -> None:
    wait_for(
        "the pybroken job handled",
        lambda: (
            read_json(cluster.where.data_dir / STATE_FILE).get("pybroken", {}).get("pending")
            is False
        ),
    )
    health = cluster.health()
    assert health.ok, health.detail
    error = read_json(cluster.where.data_dir / STATE_FILE)["pybroken"]["error"]
    assert error.startswith(str(Path(cluster.options.jobs["pybroken"].file)) + ": "), error
    assert "ValidationException" in error and "nowhere" in error, error
    assert "pybroken NOT SUBMITTED (" in health.detail
    assert "pynumbers RUNNING" in health.detail and "numbers RUNNING" in health.detail


def test_a_script_writes_to_postgresql_through_the_jdbc_connector(
    cluster: RunningComponent, postgres: tuple[RunningComponent, str]
) -> None:
    pg, password = postgres

    def rows() -> list[tuple[int, int]]:
        with psycopg.connect(
            host=POSTGRES_ADDRESS, port=pg.where.port, user="postgres", dbname="postgres",
            password=password,
        ) as conn:  # fmt: skip
            return [(int(n), int(sq)) for n, sq in conn.execute("SELECT n, sq FROM squares")]

    wait_for("50 rows in PostgreSQL", lambda: len(rows()) == 50, timeout=180)
    assert sorted(rows()) == [(n, n * n) for n in range(1, 51)]


def test_a_killed_taskmanager_is_started_again_and_the_job_recovers(
    cluster: RunningComponent,
) -> None:
    before = {tm["id"] for tm in rest(cluster, "/taskmanagers")["taskmanagers"]}
    assert cluster.popen is not None
    javas = [
        p
        for p in descendants(cluster.popen.pid)
        if "TaskManagerRunner" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
    ]
    assert len(javas) == 2
    os.kill(javas[0], signal.SIGKILL)

    def replaced() -> bool:
        ids = {tm["id"] for tm in rest(cluster, "/taskmanagers")["taskmanagers"]}
        return len(ids) == 2 and ids != before and len(ids & before) == 1

    wait_for("a new TaskManager registered", replaced, timeout=120)
    wait_for("the job running again", lambda: running_job(cluster, "numbers"), timeout=120)
    log = cluster.log_path.read_text(errors="replace")
    assert "exited with" in log and "starting it again" in log


def test_a_job_resumes_from_its_savepoint_after_a_stop(cluster: RunningComponent) -> None:
    first = wait_for("the job running", lambda: running_job(cluster, "numbers"))
    py_first = wait_for("the script's job running", lambda: running_job(cluster, "pynumbers"))
    for job in (first, py_first):
        wait_for(
            "a completed checkpoint",
            lambda job=job: (
                rest(cluster, f"/jobs/{job['jid']}/checkpoints")["counts"]["completed"] > 0
            ),
        )
    code = cluster.stop()
    assert code == 0, cluster.tail()
    records = read_json(cluster.where.data_dir / STATE_FILE)
    savepoint = records["numbers"]["savepoint"]
    py_savepoint = records["pynumbers"]["savepoint"]
    assert Path(savepoint.removeprefix("file:")).joinpath("_metadata").is_file()
    assert not cluster.health().ok
    cluster.start()
    second = wait_for("the job running again", lambda: running_job(cluster, "numbers"))
    assert second["jid"] != first["jid"]
    restored = rest(cluster, f"/jobs/{second['jid']}/checkpoints")["latest"]["restored"]
    assert restored["is_savepoint"] is True
    assert restored["external_path"].removeprefix("file:") == savepoint.removeprefix("file:")

    py_second = wait_for("the script's job again", lambda: running_job(cluster, "pynumbers"))
    assert py_second["jid"] != py_first["jid"]
    py_restored = rest(cluster, f"/jobs/{py_second['jid']}/checkpoints")["latest"]["restored"]
    assert py_restored["is_savepoint"] is True
    assert py_restored["external_path"].removeprefix("file:") == py_savepoint.removeprefix("file:")
