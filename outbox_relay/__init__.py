"""The outbox relay: publishes every committed outbox row of every service database to Kafka."""
