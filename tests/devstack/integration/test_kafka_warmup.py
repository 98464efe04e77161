"""The broker warm-up `make up` runs after starting Kafka: against the local broker, it produces,
fetches and commits on a topic of its own that keeps its messages for a minute."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import ConfigResource  # type: ignore[attr-defined]

from devstack import kafka_warmup
from servicekit.messaging.kafka import admin_client
from servicekit.settings import KafkaSettings


def committed_total(kafka: KafkaSettings, group: str) -> int:
    """A warm-up group's committed offsets, summed over the topic's partitions."""
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap_servers, "group.id": group})
    try:
        partitions = (
            consumer.list_topics(kafka_warmup.TOPIC, timeout=15)
            .topics[kafka_warmup.TOPIC]
            .partitions
        )
        committed = consumer.committed(
            [TopicPartition(kafka_warmup.TOPIC, p) for p in partitions], timeout=15
        )
        return sum(max(tp.offset, 0) for tp in committed)
    finally:
        consumer.close()


def test_warm_up_produces_fetches_and_commits_on_its_own_topic() -> None:
    kafka = KafkaSettings()

    report = kafka_warmup.warm_up(kafka, seconds=2.0)

    assert report.produced > 0
    assert report.consumed > 0
    assert committed_total(kafka, report.group) > 0
    resource = ConfigResource("topic", kafka_warmup.TOPIC)
    admin = admin_client(kafka)  # kept: a collected client fails its futures
    config = admin.describe_configs([resource])[resource].result(timeout=15)
    assert config["retention.ms"].value == "60000"
