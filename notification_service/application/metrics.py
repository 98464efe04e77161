"""The sender's metrics, by kind of notification (never by customer)."""

from __future__ import annotations

from prometheus_client import Counter

NOTIFICATIONS_SENT = Counter(
    "notifications_sent_total", "Emails the SMTP server accepted.", ["kind"]
)
SEND_FAILURES = Counter(
    "notification_send_failures_total", "Failed delivery attempts (retried).", ["kind"]
)
NOTIFICATIONS_FAILED = Counter(
    "notifications_failed_total", "Notifications given up on after every attempt.", ["kind"]
)
