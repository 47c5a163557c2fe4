"""The platform's own Flink job: live per-service statistics from the load balancer's
access events.

The load balancer ships one JSON event per request to Kafka's `logs` topic
(`lb/_events.py`: `logger` `lb.access`, `ts` in RFC 3339 UTC, `backend` the service,
`path`, `status`, `bytes`, `duration_ms`). The job reads them with event time from `ts`
and a bounded-lateness watermark, and for every service and route (the path without its
query) and every tumbling window computes the request count, the 5xx count, the exact
latency percentiles p50/p95/p99 (Flink's `PERCENTILE`: linear interpolation between the
closest ranks, over the requests that have a duration: nginx's are fractional
milliseconds, HAProxy's whole ones) and the bytes sent, written as one JSON record per window to the
`service-stats` topic.

Two choices are for throughput (`bench/flink.py`, figures in bench/README.md): the JSON
format parses `ts` itself as a `TIMESTAMP_LTZ` (its ISO-8601 form is exactly what the
events carry, `...T...Z`), where the SQL parsed the string with `TO_TIMESTAMP` after two
`REPLACE`s; and the three percentiles are one `PERCENTILE` with an array of fractions:
one accumulator (a map of each duration seen to its count) per window and key instead of
three, which each event updates and each window merges once. The second changed the
aggregation's state, hence `STATE_VERSION`.
"""

from __future__ import annotations

from leapfrog.components._flink_config import StatsOptions
from leapfrog.shared.durations import parse_duration

__all__ = ["JOB_NAME", "STATE_VERSION", "StatsOptions", "stats_sql"]

JOB_NAME = "service-stats"
STATE_VERSION = "2"
"""The layout of the job's state (its aggregation's accumulators); change it with any SQL
change whose state an older savepoint could not be restored into (Flink would fail the
job at each restart). A start after such a change reads on from the Kafka offsets the
last checkpoint committed, with no open windows: those windows' rows count only what
came after it."""


def _seconds(text: str) -> int:
    return max(1, round(parse_duration(text)))


def stats_sql(options: StatsOptions) -> str:
    """The job's SQL; `${KAFKA_BOOTSTRAP_SERVERS}` is filled in by the cluster's process."""
    window, lateness = _seconds(options.window), _seconds(options.lateness)
    return f"""
SET 'table.local-time-zone' = 'UTC';

CREATE TABLE lb_access (
  ts TIMESTAMP_LTZ(3),
  `logger` STRING,
  backend STRING,
  `path` STRING,
  status INT,
  `bytes` BIGINT,
  duration_ms DOUBLE,
  event_time AS ts,
  WATERMARK FOR event_time AS event_time - INTERVAL '{lateness}' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = '{options.source_topic}',
  'properties.bootstrap.servers' = '${{KAFKA_BOOTSTRAP_SERVERS}}',
  'properties.group.id' = 'leapfrog-service-stats',
  'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest',
  'format' = 'json',
  'json.ignore-parse-errors' = 'true',
  'json.timestamp-format.standard' = 'ISO-8601'
);

CREATE TABLE service_stats (
  service STRING,
  route STRING,
  window_start STRING,
  window_end STRING,
  requests BIGINT,
  errors BIGINT,
  p50_ms DOUBLE,
  p95_ms DOUBLE,
  p99_ms DOUBLE,
  `bytes` BIGINT
) WITH (
  'connector' = 'kafka',
  'topic' = '{options.topic}',
  'properties.bootstrap.servers' = '${{KAFKA_BOOTSTRAP_SERVERS}}',
  'format' = 'json',
{_delivery(options, "")}
);

CREATE TEMPORARY VIEW requests AS
SELECT backend AS service, SPLIT_INDEX(`path`, '?', 0) AS route, status, `bytes`,
       duration_ms, event_time
FROM lb_access
WHERE `logger` = 'lb.access' AND backend IS NOT NULL AND `path` IS NOT NULL
  AND status IS NOT NULL AND event_time IS NOT NULL;

CREATE TEMPORARY VIEW windows AS
SELECT service, route, window_start, window_end,
       COUNT(*) AS requests,
       SUM(CASE WHEN status >= 500 AND status < 600 THEN 1 ELSE 0 END) AS errors,
       PERCENTILE(duration_ms, ARRAY[0.5, 0.95, 0.99]) AS p_ms,
       SUM(COALESCE(`bytes`, 0)) AS `bytes`
FROM TABLE(TUMBLE(TABLE requests, DESCRIPTOR(event_time), INTERVAL '{window}' SECOND))
GROUP BY window_start, window_end, service, route;

CREATE TEMPORARY VIEW stats AS
SELECT service, route, window_start, window_end, requests, errors,
       p_ms[1] AS p50_ms, p_ms[2] AS p95_ms, p_ms[3] AS p99_ms, `bytes`
FROM windows;
{_sinks(options)}"""


_JSON_INSERT = """
INSERT INTO service_stats
SELECT service, route,
       DATE_FORMAT(window_start, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
       DATE_FORMAT(window_end, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
       requests, errors, p50_ms, p95_ms, p99_ms, `bytes`
FROM stats;
"""

_LINES_TABLE = """
CREATE TABLE service_stats_lines (line STRING) WITH (
  'connector' = 'kafka',
  'topic' = '{topic}',
  'properties.bootstrap.servers' = '${{KAFKA_BOOTSTRAP_SERVERS}}',
  'format' = 'raw',
{delivery}
);
"""

# InfluxDB line protocol: tag values escape space, comma and equals with a backslash
# (in SQL `\\$1` is the replacement: a backslash, then the character); the point's time
# is the window's start in nanoseconds (the session's zone is UTC).
_LINES_INSERT = r"""
INSERT INTO service_stats_lines
SELECT CONCAT(
  'service_stats,service=', REGEXP_REPLACE(service, '([ ,=])', '\\$1'),
  ',route=', REGEXP_REPLACE(route, '([ ,=])', '\\$1'),
  ' requests=', CAST(requests AS STRING), 'i,errors=', CAST(errors AS STRING),
  'i,bytes=', CAST(`bytes` AS STRING), 'i',
  COALESCE(CONCAT(',p50_ms=', CAST(p50_ms AS STRING), ',p95_ms=', CAST(p95_ms AS STRING),
                  ',p99_ms=', CAST(p99_ms AS STRING)), ''),
  ' ', CAST(UNIX_TIMESTAMP(DATE_FORMAT(window_start, 'yyyy-MM-dd HH:mm:ss')) AS STRING),
  '000000000')
FROM stats;
"""


# Kafka refuses a transaction longer than its `transaction.max.timeout.ms` (15 min by
# default); Flink's own default (1 h) would fail the sink's start.
_TRANSACTION_TIMEOUT_MS = 600_000


def _delivery(options: StatsOptions, suffix: str) -> str:
    """The sink's delivery settings: exactly-once is a transaction per checkpoint, with an
    id prefix of its own per sink (two sinks sharing one would abort each other's)."""
    if options.guarantee == "at-least-once":
        return "  'sink.delivery-guarantee' = 'at-least-once'"
    return (
        "  'sink.delivery-guarantee' = 'exactly-once',\n"
        f"  'sink.transactional-id-prefix' = 'leapfrog-{JOB_NAME}{suffix}',\n"
        f"  'properties.transaction.timeout.ms' = '{_TRANSACTION_TIMEOUT_MS}'"
    )


def _sinks(options: StatsOptions) -> str:
    if options.metrics_topic is None:
        return _JSON_INSERT
    inserts = _JSON_INSERT.strip() + "\n" + _LINES_INSERT.strip()
    return (
        _LINES_TABLE.format(topic=options.metrics_topic, delivery=_delivery(options, "-lines"))
        + f"\nEXECUTE STATEMENT SET BEGIN\n{inserts}\nEND;\n"
    )
