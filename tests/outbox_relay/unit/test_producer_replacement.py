"""A gap in a partition is refused, never published: the relay's producer is gapless, and a fatal
error (librdkafka's answer to a gap it would otherwise leave) replaces the producer, so that the
replay from the durable mark sends the aggregate's events again in order."""

from __future__ import annotations

from confluent_kafka import KafkaError

from outbox_relay import metrics
from outbox_relay.relay import DatabaseRelay
from outbox_relay.settings import RelaySettings
from servicekit.messaging.kafka import producer_config
from servicekit.settings import KafkaSettings


def relay() -> DatabaseRelay:
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1")  # never contacted here
    return DatabaseRelay(
        "unit",
        "postgresql://nobody@127.0.0.1:1/none",
        RelaySettings(databases={"unit": "postgresql://nobody@127.0.0.1:1/none"}),
        kafka,
        producer_config(kafka, client_id="unit"),
    )


def test_the_producer_refuses_gaps() -> None:
    assert relay()._producer_config["enable.gapless.guarantee"] is True


def test_a_fatal_error_replaces_the_producer_once() -> None:
    subject = relay()
    first = subject.producer
    replaced = metrics.PRODUCERS_REPLACED.labels(database="unit")
    before = replaced._value.get()
    subject._replace_producer_if_fatal()
    assert subject.producer is first  # nothing fatal yet: kept
    subject._on_kafka_error(KafkaError(KafkaError._FATAL, "gap refused", fatal=True))
    subject._replace_producer_if_fatal()
    assert subject.producer is not first
    assert replaced._value.get() == before + 1
    subject._replace_producer_if_fatal()  # handled: not again
    assert replaced._value.get() == before + 1


def test_a_transient_error_keeps_the_producer() -> None:
    subject = relay()
    first = subject.producer
    subject._on_kafka_error(KafkaError(KafkaError._TRANSPORT, "broker away"))
    subject._replace_producer_if_fatal()
    assert subject.producer is first
