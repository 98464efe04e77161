"""The senders' metrics, by kind of notification and channel (never by customer)."""

from __future__ import annotations

from prometheus_client import Counter

NOTIFICATIONS_SENT = Counter(
    "notifications_sent_total",
    "Notifications the provider accepted (in the app: recorded).",
    ["kind", "channel"],
)
SEND_FAILURES = Counter(
    "notification_send_failures_total", "Failed delivery attempts (retried).", ["kind", "channel"]
)
NOTIFICATIONS_FAILED = Counter(
    "notifications_failed_total",
    "Notifications given up on after every attempt.",
    ["kind", "channel"],
)
