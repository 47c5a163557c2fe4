-- A team's own Flink job: how many events of each type arrived per minute.
-- Input: the `events` topic as hello writes it ({"type": ..., "accepted_at": <epoch s>, ...}).
-- Output: one JSON record per type and minute in `events-per-minute`, once the minute is
-- over (event time, 5 s of allowed lateness), written exactly once: in a Kafka
-- transaction committed with the job's checkpoint (read it with isolation.level
-- read_committed, the default of librdkafka-based clients).
SET 'table.local-time-zone' = 'UTC';
-- A partition with no new events must not hold every window open.
SET 'table.exec.source.idle-timeout' = '10 s';

CREATE TABLE events (
  `type` STRING,
  accepted_at DOUBLE,
  event_time AS TO_TIMESTAMP_LTZ(CAST(accepted_at * 1000 AS BIGINT), 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
) WITH (
  'connector' = 'kafka',
  'topic' = 'events',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'properties.group.id' = 'events-per-minute',
  'scan.startup.mode' = 'group-offsets',
  'properties.auto.offset.reset' = 'earliest',
  'format' = 'json',
  'json.ignore-parse-errors' = 'true'
);

CREATE TABLE events_per_minute (
  `type` STRING,
  minute_start STRING,
  minute_end STRING,
  events BIGINT
) WITH (
  'connector' = 'kafka',
  'topic' = 'events-per-minute',
  'properties.bootstrap.servers' = '${KAFKA_BOOTSTRAP_SERVERS}',
  'format' = 'json',
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = 'events-per-minute',
  'properties.transaction.timeout.ms' = '600000'
);

INSERT INTO events_per_minute
SELECT `type`,
       DATE_FORMAT(window_start, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
       DATE_FORMAT(window_end, 'yyyy-MM-dd''T''HH:mm:ss''Z'''),
       COUNT(*)
FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
WHERE `type` IS NOT NULL
GROUP BY window_start, window_end, `type`;
