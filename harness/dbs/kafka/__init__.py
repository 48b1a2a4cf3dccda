"""Apache Kafka 4.x (KRaft) as a datastore: install from Maven Central, node config, the
DB lifecycle and the confluent-kafka queue client. See db.py."""

from harness.dbs.kafka.db import KafkaDB

__all__ = ["KafkaDB"]
