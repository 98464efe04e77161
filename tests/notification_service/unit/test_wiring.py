"""How create_app wires the notification service's consumer."""

from __future__ import annotations

import pytest

from notification_service import main
from notification_service.settings import NotificationSettings
from servicekit.messaging.subscriptions import Subscriptions


def test_the_consumer_gathers_its_fetches_by_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # No saga waits on a notification: its group lets the broker gather events per fetch.
    made: dict[str, object] = {}
    monkeypatch.setattr(main, "create_service_app", lambda **kwargs: made.update(kwargs))
    main.create_app(NotificationSettings(consumer_gather_ms=150))
    subscriptions = made["subscriptions"]
    assert isinstance(subscriptions, Subscriptions)
    assert subscriptions.consumer_overrides()["fetch.wait.max.ms"] == 150
    assert subscriptions.batch_locks is not None  # what a fetch brings shares a transaction
