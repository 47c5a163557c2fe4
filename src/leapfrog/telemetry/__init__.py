"""Log and metric shipping to Kafka: JSON log events, Influx line-protocol metrics, a disk spool."""
