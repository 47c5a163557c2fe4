"""Log formats: each program's lines as events, multi-line records kept whole."""

from __future__ import annotations

from leapfrog.components.lb import LB_LOG
from leapfrog.telemetry import (
    AUDIT,
    LOG4J_KAFKA,
    LOGBACK_ZOOKEEPER,
    PLAIN,
    POSTGRES,
    PYTHON_LOGGING,
    SYSLOG,
    LogAssembler,
    LogFormat,
)


def _all(log_format: LogFormat, text: str, instance: str = "") -> list[dict[str, object]]:
    assembler = LogAssembler(log_format, instance)
    events = []
    for line in text.splitlines():
        events += assembler.feed(line)
    return events + assembler.flush()


def test_kafka_line_and_java_stack_trace() -> None:
    text = (
        "[2026-12-05 22:31:01,123] INFO [KafkaRaftServer nodeId=1] Kafka Server started "
        "(kafka.server.KafkaRaftServer)\n"
        "[2026-12-05 22:31:02,000] ERROR Error in partition (kafka.server.ReplicaManager)\n"
        "java.lang.IllegalStateException: boom\n"
        "\tat kafka.server.ReplicaManager.foo(ReplicaManager.scala:10)\n"
        "Caused by: java.io.IOException: disk\n"
        "\t... 5 more\n"
        "[2026-12-05 22:31:03,000] WARN last (org.apache.kafka.X)\n"
    )
    first, second, third = _all(LOG4J_KAFKA, text)
    assert first == {
        "level": "info",
        "logger": "kafka.server.KafkaRaftServer",
        "message": "[KafkaRaftServer nodeId=1] Kafka Server started",
        "logged_at": "2026-12-05 22:31:01,123",
    }
    assert second["level"] == "error" and second["message"] == "Error in partition"
    assert str(second["exception"]).splitlines() == [
        "java.lang.IllegalStateException: boom",
        "\tat kafka.server.ReplicaManager.foo(ReplicaManager.scala:10)",
        "Caused by: java.io.IOException: disk",
        "\t... 5 more",
    ]
    assert third["level"] == "warning" and third["logger"] == "org.apache.kafka.X"


def test_zookeeper_logback_line() -> None:
    line = (
        "2026-12-05 22:31:01,123 [myid:] INFO  [main] ZooKeeperServer: Server environment: "
        "os.name=Linux"
    )
    (event,) = _all(LOGBACK_ZOOKEEPER, line)
    assert event["level"] == "info" and event["logger"] == "ZooKeeperServer"
    assert event["message"] == "Server environment: os.name=Linux"


def test_postgres_lines_and_a_statement_over_lines() -> None:
    text = (
        "2026-12-05 22:31:01.123 UTC [77] LOG:  database system is ready to accept connections\n"
        '2026-12-05 22:31:02.000 UTC [78] app@shop ERROR:  relation "x" does not exist\n'
        "2026-12-05 22:31:02.000 UTC [78] app@shop STATEMENT:  SELECT *\n"
        "\tFROM x\n"
        "2026-12-05 22:31:03.000 UTC [79] FATAL:  the end\n"
    )
    ready, error, statement, fatal = _all(POSTGRES, text)
    assert ready["level"] == "info" and ready["logger"] == "postgres"
    assert ready["message"] == "database system is ready to accept connections"
    assert error["level"] == "error"
    assert statement["message"] == "SELECT *\n\tFROM x"
    assert fatal["level"] == "critical"


def test_load_balancer_log_skips_its_own_shipped_json() -> None:
    text = (
        "[NOTICE]   (12) : New worker (13) forked\n"
        '{"ts":"x","logger":"lb.access","instance":"lb-1","kind":"access","message":"GET /"}\n'
        "2026-12-05 22:31:01,123 INFO rendered haproxy.cfg\n"
        "[ALERT]    (12) : config : parsing [x.cfg:3]\n"
    )
    notice, rendered, alert = _all(LB_LOG, text, "lb-1")
    assert notice == {"level": "info", "logger": "lb", "message": "New worker (13) forked"}
    assert rendered["message"] == "rendered haproxy.cfg"
    assert alert["level"] == "critical"


def test_plain_output_json_and_python_traceback() -> None:
    text = (
        "starting up\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "    1 / 0\n"
        "ZeroDivisionError: division by zero\n"
        '{"level": "warning", "msg": "low disk", "free": 3, "instance": "other"}\n'
        "ERROR: plain error\n"
        "after\n"
    )
    events = _all(PLAIN, text, "svc-1")
    assert [e["message"] for e in events] == [
        "starting up",
        "Traceback (most recent call last):",
        "low disk",
        "ERROR: plain error",
        "after",
    ]
    assert str(events[1]["exception"]).endswith("ZeroDivisionError: division by zero")
    assert events[2]["level"] == "warning" and events[2]["free"] == 3
    assert events[3]["level"] == "error"


def test_json_naming_the_instance_itself_was_shipped_by_it() -> None:
    line = '{"level":"info","message":"hi","instance":"hello-1","service":"hello"}'
    assert _all(PLAIN, line, "hello-1") == []


def test_supervisor_markers_and_blank_lines_are_not_events() -> None:
    assert _all(PLAIN, "--- leapfrog: x-1 starting at 2026 ---\n\n   \n") == []


def test_python_logging_syslog_and_audit() -> None:
    (catalog,) = _all(PYTHON_LOGGING, "2026-12-05 22:31:01,123 WARNING slow fsync")
    assert catalog["level"] == "warning" and catalog["message"] == "slow fsync"
    (syslog,) = _all(SYSLOG, "Dec  5 22:31:01 box sshd[123]: Accepted publickey")
    assert syslog["logger"] == "sshd" and syslog["source"] == "syslog"
    (modern,) = _all(SYSLOG, "2026-12-05T22:31:01.123456+00:00 box cron[9]: job done")
    assert modern["logger"] == "cron" and modern["message"] == "job done"
    (audit,) = _all(AUDIT, "type=USER_LOGIN msg=audit(1733437861.123:456): pid=1 res=success")
    assert audit["logger"] == "USER_LOGIN" and audit["source"] == "audit"
    assert audit["message"] == "pid=1 res=success"


def test_a_runaway_record_is_cut() -> None:
    text = "[2026-12-05 22:31:01,123] ERROR x (a.B)\n" + "\tat y\n" * 2000
    (event,) = _all(LOG4J_KAFKA, text)
    assert len(str(event["exception"]).splitlines()) < 1000


def test_opensearch_lines_have_level_logger_and_message() -> None:
    from leapfrog.telemetry import LOG4J_OPENSEARCH

    line = "[2026-12-05T23:32:08,396][WARN ][o.o.n.Node] JVM home [/usr/lib/jvm]"
    assert LOG4J_OPENSEARCH.begins(line, [])
    assert LOG4J_OPENSEARCH.fields(line) == {
        "level": "warning",
        "logger": "o.o.n.Node",
        "message": "JVM home [/usr/lib/jvm]",
        "logged_at": "2026-12-05T23:32:08,396",
    }
    assert not LOG4J_OPENSEARCH.begins("\tat org.opensearch.Foo(Foo.java:1)", ["x"])


def test_influxdb_logfmt_quoted_and_bare_messages() -> None:
    from leapfrog.telemetry import INFLUXDB_LOGFMT

    quoted = (
        'ts=2026-12-05T23:32:06.881273Z lvl=info msg="Using data dir" log_id=16z '
        "service=store path=/var/lib/influxdb/data"
    )
    assert INFLUXDB_LOGFMT.fields(quoted) == {
        "level": "info",
        "logger": "store",
        "message": "Using data dir",
        "logged_at": "2026-12-05T23:32:06.881273Z",
    }
    bare = "ts=2026-12-05T23:32:06.8Z lvl=error msg=failed log_id=16z"
    fields = INFLUXDB_LOGFMT.fields(bare)
    assert (fields["level"], fields["logger"], fields["message"]) == ("error", "", "failed")
