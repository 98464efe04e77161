"""Relay metrics: what was published, what failed, and how far behind the outbox is."""

from prometheus_client import Counter, Gauge

EVENTS_PUBLISHED = Counter(
    "outbox_relay_events_published_total",
    "Outbox rows acknowledged by Kafka and marked published.",
    ["database"],
)
PUBLISH_FAILURES = Counter(
    "outbox_relay_publish_failures_total",
    "Messages Kafka did not acknowledge; the relay replays from its last mark.",
    ["database"],
)
IS_LEADER = Gauge(
    "outbox_relay_is_leader", "1 while this relay holds the database's leader lock.", ["database"]
)
BACKLOG = Gauge("outbox_backlog_events", "Committed outbox rows not yet published.", ["database"])
OLDEST_UNPUBLISHED_AGE = Gauge(
    "outbox_oldest_unpublished_age_seconds",
    "Age of the oldest committed outbox row not yet published (0 when none): the relay's lag.",
    ["database"],
)
ROWS_CLEANED = Counter(
    "outbox_relay_rows_deleted_total", "Published outbox rows removed by cleanup.", ["database"]
)
PRODUCERS_REPLACED = Counter(
    "outbox_relay_producers_replaced_total",
    "Kafka producers replaced after a fatal error (a gap in a partition refused).",
    ["database"],
)
LEASES_EXPIRED = Counter(
    "outbox_relay_leases_expired_total",
    "Hung leaders whose session this relay ended after their lease ran out (then it took over).",
    ["database"],
)
