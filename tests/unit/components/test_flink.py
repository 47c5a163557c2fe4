"""Flink's options, configuration, process, job errors and Kubernetes objects, without
running it (tests/integration/components/test_flink.py runs the real cluster)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from leapfrog.components import component
from leapfrog.components._flink_config import FlinkOptions, client_config_yaml, cluster_config
from leapfrog.components._flink_jobs import (
    JobEnded,
    extract_error,
    extract_python_error,
    newest_restore_point,
    stop_with_savepoint,
)
from leapfrog.components.base import Installation, Instance, NotSupported
from leapfrog.components.kube import KubeContext
from leapfrog.telemetry import LOG4J_FLINK, LogAssembler

KAFKA = "org.apache.flink:flink-sql-connector-kafka:5.0.0-2.2"
INSTALLATION = Installation(
    version="2.2.1",
    home=Path("/cache/flink/pyflink"),
    extra={
        "java": "/usr/bin/java",
        "bin": "/cache/flink/pyflink/bin",
        "java_opts": "--add-opens=java.base/java.util=ALL-UNNAMED",
        "sql_client": "/cache/flink/pyflink/lib/*:/cache/gw.jar",
        "connectors": json.dumps({KAFKA: ["/cache/kafka.jar"]}),
    },
)
# What Flink 2.2.1's SQL client printed for a file whose second statement is wrong.
CLIENT_OUTPUT = (
    "\x1b[34;1m[INFO] Executing SQL from file.\x1b[0m\n\n"
    "Flink SQL> CREATE TABLE src (n BIGINT) WITH ('connector' = 'datagen')"
    "\x1b[34;1m[INFO] Execute statement succeeded.\x1b[0m\n\n"
    "Flink SQL> \x1b[31;1m[ERROR] Could not execute SQL statement. Reason:\n"
    "org.apache.calcite.runtime.CalciteException: Non-query expression encountered in "
    "illegal context\x1b[0m\n\nShutting down the session...\ndone.\n"
)


def where(data_dir: Path) -> Instance:
    return Instance(
        name="flink",
        instance="flink-1",
        address="127.0.0.9",
        port=8081,
        data_dir=data_dir,
        secrets_dir=data_dir / "secrets",
        cache_dir=Path("/cache"),
    )


def test_options_refuse_what_flink_would_not_take() -> None:
    assert FlinkOptions().taskmanagers == 1
    for bad in (
        {"taskmanagers": 0},
        {"version": "1.20.0"},
        {"checkpoint_interval": "0s"},
        {"jobs": {"a": {"file": "a.sql", "connectors": ["not a connector"]}}},
        {"jobs": {"a": {"file": "a.sql", "parallelism": 0}}},
        {"jobs": {"a": {"file": "a.sql", "colour": "red"}}},
    ):
        with pytest.raises(ValidationError):
            FlinkOptions.model_validate(bad)
    job = FlinkOptions.model_validate({"jobs": {"a": {"file": "a.sql", "connectors": ["kafka"]}}})
    assert job.connector_coordinates() == [KAFKA]


def test_every_listener_is_on_the_instance_address(tmp_path: Path) -> None:
    settings = cluster_config(FlinkOptions(), "127.0.0.9", 8081, tmp_path, "")
    for key in ("jobmanager.bind-host", "jobmanager.rpc.address", "rest.address",
                "rest.bind-address", "taskmanager.bind-host", "taskmanager.host"):  # fmt: skip
        assert settings[key] == "127.0.0.9", key
    assert settings["execution.checkpointing.dir"] == f"file://{tmp_path / 'checkpoints'}"
    assert settings["execution.checkpointing.savepoint-dir"] == f"file://{tmp_path / 'savepoints'}"
    client = yaml.safe_load(client_config_yaml(settings))
    # The client builds the job graph: checkpointing is set there; it binds nothing.
    assert client["execution.checkpointing.interval"] == "10000ms"
    assert not [key for key in client if "bind-" in key]


def test_managed_memory_is_left_small_unless_a_pyflink_job_needs_it(tmp_path: Path) -> None:
    def fraction(**options: Any) -> str | None:
        settings = cluster_config(FlinkOptions(**options), "127.0.0.9", 8081, tmp_path, "")
        return settings.get("taskmanager.memory.managed.fraction")

    assert fraction(jobs={"a": {"file": "a.sql"}}) == "0.05"
    assert fraction(jobs={"a": {"file": "a.sql"}, "b": {"file": "b.py"}}) is None  # Flink's 0.4
    assert fraction(config={"taskmanager.memory.managed.fraction": "0.3"}) == "0.3"


def test_process_writes_the_configuration_and_copies_the_jobs(tmp_path: Path) -> None:
    job_file = tmp_path / "count.sql"
    job_file.write_text("INSERT INTO a SELECT 1;")
    options = component("flink").options(
        {
            "taskmanagers": 2,
            "jobs": {
                "count": {"file": str(job_file), "connectors": ["kafka"], "parallelism": 3},
                "gone": {"file": str(tmp_path / "missing.sql")},
            },
        }
    )
    data = tmp_path / "data"
    process = component("flink").process(options, INSTALLATION, where(data))
    assert process.argv[1:3] == ("-m", "leapfrog.components._flink_cluster")
    config = yaml.safe_load(process.files["conf/config.yaml"])
    assert config["rest.bind-address"] == "127.0.0.9"
    assert process.files["jobs/count.sql"] == "INSERT INTO a SELECT 1;"
    assert "jobs/gone.sql" not in process.files  # reported by the cluster's process
    spec = json.loads(process.files["cluster.json"])
    assert spec["taskmanagers"] == 2
    jobs = {job["name"]: job for job in spec["jobs"]}
    assert jobs["count"]["jars"] == ["/cache/kafka.jar"]
    assert jobs["count"]["parallelism"] == 3
    assert jobs["gone"]["jars"] == []
    # A changed file is a changed process: the runtime restarts it, the job takes a savepoint.
    job_file.write_text("INSERT INTO a SELECT 2;")
    again = component("flink").process(options, INSTALLATION, where(data))
    assert again.files["cluster.json"] != process.files["cluster.json"]


def test_a_relative_job_file_is_read_from_the_stack_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack_dir = tmp_path / "stack"
    (stack_dir / "jobs").mkdir(parents=True)
    (stack_dir / "jobs" / "count.sql").write_text("INSERT INTO a SELECT 3;")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # where `leapfrog -f stack/leapfrog.yaml up` runs
    options = component("flink").options({"jobs": {"count": {"file": "jobs/count.sql"}}})
    data = tmp_path / "data"
    at_stack = Instance(**{**where(data).__dict__, "stack_dir": stack_dir})
    process = component("flink").process(options, INSTALLATION, at_stack)
    assert process.files["jobs/count.sql"] == "INSERT INTO a SELECT 3;"
    # Without a stack directory (a caller outside the runtime), the current one counts.
    assert (
        "jobs/count.sql" not in component("flink").process(options, INSTALLATION, where(data)).files
    )


def test_the_clients_error_names_the_statement_and_flinks_reason() -> None:
    sql = "CREATE TABLE src (n BIGINT) WITH ('connector' = 'datagen');\nINSERT INTO snk SELEC n;"
    assert extract_error(CLIENT_OUTPUT, sql) == (
        "statement 2 (INSERT INTO snk SELEC n): org.apache.calcite.runtime.CalciteException: "
        "Non-query expression encountered in illegal context"
    )
    assert extract_error("[INFO] Execute statement succeeded.", sql) is None


def test_the_log_format_reads_each_process_lines() -> None:
    lines = [
        "2026-12-06 01:54:02,249 INFO  org.apache.flink.runtime.jobmaster.JobMaster - "
        "[jobmanager] Checkpoint storage is set to 'filesystem'",
        "2026-12-06 01:54:03,001 ERROR leapfrog.flink - [cluster] job x was not submitted",
        "java.lang.RuntimeException: boom",
        "\tat Foo.bar(Foo.java:1)",
    ]
    assembler = LogAssembler(LOG4J_FLINK, "flink-1")
    events = [e for line in lines for e in assembler.feed(line)] + assembler.flush()
    assert [(e["level"], e["logger"]) for e in events] == [
        ("info", "org.apache.flink.runtime.jobmaster.JobMaster"),
        ("error", "leapfrog.flink"),
    ]
    assert "boom" in str(events[1]["exception"])


def test_kubernetes_is_a_session_cluster_that_validates() -> None:
    options = component("flink").options({"taskmanagers": 3})
    rendered = component("flink").render_kubernetes(options, KubeContext("ns", "s"))
    kinds = {(o["kind"], o["metadata"]["name"]) for o in rendered.objects}
    assert kinds == {
        ("ConfigMap", "flink-config"),
        ("PersistentVolumeClaim", "flink-checkpoints"),
        ("Service", "flink-jobmanager"),
        ("Deployment", "flink-jobmanager"),
        ("Deployment", "flink-taskmanager"),
    }
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, "1.37.0", strict=True)
    deployments = {o["metadata"]["name"]: o for o in rendered.objects if o["kind"] == "Deployment"}
    assert deployments["flink-taskmanager"]["spec"]["replicas"] == 3
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert rendered.env == [
        {"name": "FLINK_REST_URL", "value": "http://flink-jobmanager.ns.svc:8081"}
    ]


def _submit_jobs(rendered: Any) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered.objects if o["kind"] == "Job"}


def test_kubernetes_submits_each_sql_job_and_the_stats_job_with_a_job(tmp_path: Path) -> None:
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "count.sql").write_text(
        "INSERT INTO out SELECT * FROM t; -- '${KAFKA_BOOTSTRAP_SERVERS}' and $HOME stays"
    )
    options = component("flink").options(
        {
            "jobs": {"count": {"file": "jobs/count.sql", "connectors": ["jdbc"]}},
            "service_stats": {},
        }
    )
    kafka = {"name": "KAFKA_BOOTSTRAP_SERVERS", "value": "kafka.ns.svc:9092"}
    token = {"name": "CONSUL_HTTP_TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}
    kube = KubeContext("ns", "s", stack_dir=tmp_path, platform_env=(kafka, token))
    rendered = component("flink").render_kubernetes(options, kube)
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, "1.37.0", strict=True)
    files = next(o for o in rendered.objects if o["metadata"]["name"] == "flink-jobs")["data"]
    assert "def prepare(" in files["submit.py"]
    assert files["count.sql"].startswith("INSERT INTO out")
    assert "rest.address: flink-jobmanager" in files["config.yaml"]
    jobs = _submit_jobs(rendered)
    assert sorted(name.rsplit("-", 1)[0] for name in jobs) == [
        "flink-job-count",
        "flink-job-service-stats",
    ]
    count = next(j for n, j in jobs.items() if n.startswith("flink-job-count"))
    pod = count["spec"]["template"]["spec"]
    prepare = pod["initContainers"][0]["command"]
    urls = [prepare[i + 1] for i, arg in enumerate(prepare) if arg == "--jar"]
    assert urls == [
        "https://repo1.maven.org/maven2/org/apache/flink/flink-connector-jdbc-postgres/"
        "4.0.0-2.0/flink-connector-jdbc-postgres-4.0.0-2.0.jar",
        "https://repo1.maven.org/maven2/org/apache/flink/flink-connector-jdbc-core/"
        "4.0.0-2.0/flink-connector-jdbc-core-4.0.0-2.0.jar",
        "https://repo1.maven.org/maven2/org/postgresql/postgresql/42.7.4/postgresql-42.7.4.jar",
    ]
    assert "http://flink-jobmanager.ns.svc:8081" in prepare
    submit = pod["containers"][0]
    # Only the variables its SQL names, replaced by envsubst (not $HOME): no catalog token.
    assert [e["name"] for e in submit["env"]] == [
        "KAFKA_BOOTSTRAP_SERVERS",
        "FLINK_CONF_DIR",
        "FLINK_LOG_DIR",
    ]
    assert "envsubst '${KAFKA_BOOTSTRAP_SERVERS}'" in submit["command"][2]
    assert "--jar /tmp/work/jars/postgresql-42.7.4.jar" in submit["command"][2]
    # A changed file is a new Job (its pod is immutable); apply prunes the old one, and
    # the new one's init stops the old version with a savepoint and resumes from it.
    (tmp_path / "jobs" / "count.sql").write_text("INSERT INTO out SELECT 1;")
    again = _submit_jobs(component("flink").render_kubernetes(options, kube))
    assert set(again) != set(jobs)
    assert len(set(again) & set(jobs)) == 1  # the stats job did not change


def test_kubernetes_refuses_pyflink_jobs_without_the_operator(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("print(1)")
    options = component("flink").options({"jobs": {"a": {"file": str(tmp_path / "a.py")}}})
    with pytest.raises(NotSupported, match="Operator"):
        component("flink").render_kubernetes(options, KubeContext("ns", "s"))


def test_the_stats_job_writes_exactly_once_unless_told_otherwise() -> None:
    from leapfrog.components._flink_stats import StatsOptions, stats_sql

    sql = stats_sql(StatsOptions())
    assert sql.count("'sink.delivery-guarantee' = 'exactly-once'") == 2  # JSON and lines
    # Each sink its own transactional ids; a timeout Kafka's default maximum accepts.
    assert "'sink.transactional-id-prefix' = 'leapfrog-service-stats'" in sql
    assert "'sink.transactional-id-prefix' = 'leapfrog-service-stats-lines'" in sql
    assert "'properties.transaction.timeout.ms' = '600000'" in sql
    loose = stats_sql(StatsOptions(guarantee="at-least-once", metrics_topic=None))
    assert "'sink.delivery-guarantee' = 'at-least-once'" in loose
    assert "exactly-once" not in loose and "transactional" not in loose
    with pytest.raises(ValueError, match="guarantee"):
        StatsOptions(guarantee="maybe")


# What `flink run --python` printed (Flink 2.2.1) for a script inserting into a missing table.
SCRIPT_OUTPUT = """Traceback (most recent call last):
  File "/data/jobs/pybroken.py", line 5, in <module>
    t_env.execute_sql("INSERT INTO nowhere SELECT 1")
  File "/cache/pyflink/table/table_environment.py", line 839, in execute_sql
    return TableResult(self._j_tenv.executeSql(stmt))
  File "/cache/pyflink/util/exceptions.py", line 162, in deco
    raise java_exception
pyflink.util.exceptions.TableException: org.apache.flink.table.api.ValidationException: \
Object 'nowhere' not found within 'default_catalog.default_database'
org.apache.flink.client.program.ProgramAbortException: java.lang.RuntimeException: \
Python process exits with code: 1
\tat org.apache.flink.client.python.PythonDriver.main(PythonDriver.java:134)
"""


def test_a_scripts_error_is_its_last_exception_line() -> None:
    error = extract_python_error(SCRIPT_OUTPUT.replace("\\\n", ""))
    assert error is not None
    assert error.startswith("pyflink.util.exceptions.TableException: ")
    assert "Object 'nowhere' not found" in error
    cli = "\n The program finished with the following exception:\n\nboom: no slots\n\tat x\n"
    assert extract_python_error(cli) == "boom: no slots"
    assert extract_python_error("Job has been submitted with JobID 0f") is None
    py4j = (
        'Traceback (most recent call last):\n  File "x.py", line 5, in <module>\n'
        "py4j.protocol.Py4JJavaError: An error occurred while calling o8.executeSql.\n"
        ": org.apache.flink.table.api.ValidationException: Object 'nowhere' not found\n"
        "\tat org.apache.flink.table.planner.Foo.bar(Foo.java:1)\n"
    )
    assert extract_python_error(py4j) == (
        "py4j.protocol.Py4JJavaError: An error occurred while calling o8.executeSql. "
        "org.apache.flink.table.api.ValidationException: Object 'nowhere' not found"
    )


def test_a_py_file_is_a_pyflink_job_with_its_connectors(tmp_path: Path) -> None:
    script = tmp_path / "count.py"
    script.write_text("print('hi')\n")
    options = component("flink").options(
        {"jobs": {"count": {"file": str(script), "connectors": ["jdbc"], "parallelism": 2}}}
    )
    job = options.jobs["count"]
    assert job.kind == "python"
    assert job.coordinates() == [
        "org.apache.flink:flink-connector-jdbc-postgres:4.0.0-2.0",
        "org.postgresql:postgresql:42.7.4",
    ]
    assert options.connector_coordinates() == sorted(job.coordinates())
    installation = Installation(
        version="2.2.1",
        home=INSTALLATION.home,
        extra={
            **INSTALLATION.extra,
            "python": "/cache/venv/bin/python",
            "connectors": json.dumps(
                {c: [f"/cache/{c.split(':')[1]}.jar"] for c in job.coordinates()}
            ),
        },
    )
    process = component("flink").process(options, installation, where(tmp_path / "data"))
    assert process.files["jobs/count.py"] == "print('hi')\n"
    spec = json.loads(process.files["cluster.json"])
    assert spec["python"] == "/cache/venv/bin/python"
    (raw,) = spec["jobs"]
    assert raw["kind"] == "python"
    assert raw["copy"].endswith("jobs/count.py")
    assert raw["jars"] == ["/cache/flink-connector-jdbc-postgres.jar", "/cache/postgresql.jar"]


def test_kubernetes_checkpoints_to_s3_use_the_plugin_and_no_claim() -> None:
    options = component("flink").options({"kubernetes": {"checkpoints": "s3://b/flink"}})
    rendered = component("flink").render_kubernetes(options, KubeContext("ns", "s"))
    assert "PersistentVolumeClaim" not in {o["kind"] for o in rendered.objects}
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, "1.37.0", strict=True)
    config = next(o for o in rendered.objects if o["kind"] == "ConfigMap")
    settings = yaml.safe_load(config["data"]["config.yaml"])
    assert settings["execution.checkpointing.dir"] == "s3://b/flink/checkpoints"
    jobmanager = next(
        o
        for o in rendered.objects
        if o["metadata"]["name"] == "flink-jobmanager" and o["kind"] == "Deployment"
    )["spec"]["template"]["spec"]
    assert "flink-s3-fs-presto-2.2.1.jar" in " ".join(jobmanager["initContainers"][0]["command"])
    env = {e["name"]: e.get("value") for e in jobmanager["containers"][0]["env"]}
    assert env["FLINK_PLUGINS_DIR"] == "/tmp/plugins"
    with pytest.raises(ValidationError):
        component("flink").options({"kubernetes": {"checkpoints": "/local/dir"}})


class _FlinkRest(BaseHTTPRequestHandler):
    """Flink's REST answers for a stop-with-savepoint of job `j`: the stop is taken, the
    operation fails as Flink's does for a job that is not running, and `/jobs/j` tells
    the job's state (`server.job_state`). `server.stops` counts the stops asked for."""

    def do_POST(self) -> None:
        self.server.stops += 1  # type: ignore[attr-defined]
        self._answer({"request-id": "r1"})

    def do_GET(self) -> None:
        if self.path == "/jobs/j/savepoints/r1":
            cause = "java.util.concurrent.CompletionException: FlinkJobNotFoundException\n\tat x"
            self._answer(
                {
                    "status": {"id": "COMPLETED"},
                    "operation": {"failure-cause": {"stack-trace": cause}},
                }
            )
        else:
            self._answer({"jid": "j", "state": self.server.job_state})  # type: ignore[attr-defined]

    def _answer(self, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


@pytest.mark.parametrize(("state", "ended"), [("FINISHED", True), ("RUNNING", False)])
def test_a_job_that_ended_before_its_savepoint_is_not_waited_for(
    tmp_path: Path, state: str, ended: bool
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlinkRest)
    server.job_state = state  # type: ignore[attr-defined]
    server.stops = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(RuntimeError) as raised:
            stop_with_savepoint(url, "j", tmp_path, timeout=1.5)
    finally:
        server.shutdown()
        server.server_close()
    assert isinstance(raised.value, JobEnded) is ended, raised.value
    if ended:  # given up after the first answer, not tried again until the timeout
        assert str(raised.value) == "the job had already ended (FINISHED)"
        assert server.stops == 1  # type: ignore[attr-defined]
    else:  # a running job is tried again until the timeout
        assert "no savepoint within 1.5s" in str(raised.value)
        assert "FlinkJobNotFoundException" in str(raised.value)


def test_a_restore_point_of_another_state_layout_is_not_used(tmp_path: Path) -> None:
    savepoint = tmp_path / "savepoints" / "service-stats" / "savepoint-1"
    savepoint.mkdir(parents=True)
    (savepoint / "_metadata").write_bytes(b"")
    checkpoint = tmp_path / "checkpoints" / "j1" / "chk-7"
    checkpoint.mkdir(parents=True)
    (checkpoint / "_metadata").write_bytes(b"")
    record = {"savepoint": f"file:{savepoint}", "job_id": "j1"}  # recorded before versions
    assert newest_restore_point(tmp_path, record) is not None  # a user's job: as before
    assert newest_restore_point(tmp_path, record, "2") is None  # leapfrog's, newer layout
    assert newest_restore_point(tmp_path, {**record, "state_version": "2"}, "2") is not None


def test_the_stats_job_records_its_state_layout_and_keeps_one_percentile_accumulator(
    tmp_path: Path,
) -> None:
    from leapfrog.components._flink_stats import STATE_VERSION

    options = component("flink").options({"service_stats": {}})
    process = component("flink").process(options, INSTALLATION, where(tmp_path / "data"))
    jobs = {job["name"]: job for job in json.loads(process.files["cluster.json"])["jobs"]}
    assert jobs["service-stats"]["state_version"] == STATE_VERSION
    sql = process.files["jobs/service-stats.sql"]
    # One accumulator for the three percentiles (see _flink_stats); changing that changes
    # the state's layout, and STATE_VERSION with it.
    assert sql.count("PERCENTILE(") == 1
