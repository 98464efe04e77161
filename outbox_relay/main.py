"""The relay process: one leader-elected publisher thread per service database.

Run with ``python -m outbox_relay``. SIGTERM stops fetching, waits for in-flight messages to be
acknowledged (bounded by RELAY_SHUTDOWN_TIMEOUT_SECONDS), marks them, and exits 0. A publisher
thread that ends unexpectedly stops the others the same way and the process exits non-zero
(``servicekit.lifecycle``), so that the supervisor starts a fresh one: a process that serves
/health while one database's events go nowhere is an outage nobody sees.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
from types import FrameType

from prometheus_client import REGISTRY

from outbox_relay.consumer_lag import ConsumerLagCollector
from outbox_relay.relay import DatabaseRelay
from outbox_relay.settings import RelaySettings
from servicekit import lifecycle
from servicekit.logging import configure_logging, get_logger
from servicekit.messaging.kafka import admin_client, producer_config
from servicekit.ops_server import serve_ops_http
from servicekit.settings import KafkaSettings

log = get_logger("outbox_relay")


def build_relays(settings: RelaySettings, kafka: KafkaSettings) -> list[DatabaseRelay]:
    """One DatabaseRelay per configured database, each with its own producer."""
    return [
        DatabaseRelay(name, dsn, settings, kafka, producer_config(kafka, client_id=f"relay-{name}"))
        for name, dsn in sorted(settings.databases.items())
    ]


def main() -> None:
    """Entry point of the relay process."""
    settings = RelaySettings()
    kafka = KafkaSettings()
    configure_logging("outbox_relay", level=settings.log_level)
    if not settings.databases:
        raise SystemExit("RELAY_DATABASES is empty: nothing to relay (see .env.example)")

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("relay_stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    relays = build_relays(settings, kafka)

    def health() -> tuple[bool, dict[str, object]]:
        states = {relay.name: relay.state for relay in relays}
        kafka_ok = all(relay.kafka_ok for relay in relays)
        ok = kafka_ok and all(state in ("leader", "standby") for state in states.values())
        return ok, {"databases": states, "kafka": "ok" if kafka_ok else "unreachable"}

    REGISTRY.register(
        ConsumerLagCollector(
            lambda: admin_client(kafka),
            re.compile(settings.lag_groups),
            cache_seconds=settings.lag_cache_seconds,
            timeout_seconds=settings.lag_timeout_seconds,
            max_partitions=settings.lag_max_partitions,
        )
    )
    server = serve_ops_http(settings.http_host, settings.http_port, health)
    lifecycle.on_exit_requested(stop.set)
    threads = lifecycle.BackgroundThreads(stop)
    for relay in relays:
        threads.start(f"relay-{relay.name}", relay.run)
    log.info("relay_started", databases=sorted(settings.databases), http_port=settings.http_port)
    while not stop.wait(0.5):
        pass
    # Each thread flushes for at most shutdown_timeout_seconds; the margin covers the mark after.
    threads.join(settings.shutdown_timeout_seconds + 5.0)
    server.shutdown()
    exit_code = lifecycle.requested_exit_code()
    log.info("relay_stopped", exit_code=exit_code)
    if exit_code:
        sys.exit(exit_code)


if __name__ == "__main__":
    main()
