"""``python -m devstack up|down|status|logs|trace|dlq``: the whole system on one machine, no
Docker, and the operators' views of it."""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from devstack import alertmanager, layout, logfollow, operators, postgres, prometheus, supervisor
from devstack.supervisor import Program


def infra_programs() -> list[Program]:
    """The real engines, in start order."""
    return [
        Program("postgres", postgres.command(), "infra", user="postgres", stopsignal="INT"),
        Program(
            "kafka",
            str(layout.INFRA_BIN / "run-kafka.sh"),
            "infra",
            # The JMX exporter agent inside the broker serves its metrics here (run-kafka.sh).
            environment={"KAFKA_JMX_EXPORTER_PORT": str(layout.KAFKA_JMX_EXPORTER_PORT)},
            stopwaitsecs=60,
        ),
        Program(
            "eureka",
            str(layout.INFRA_BIN / "run-eureka.sh"),
            "infra",
            environment={
                "EUREKA_USERNAME": layout.EUREKA_USERNAME,
                "EUREKA_PASSWORD": layout.EUREKA_PASSWORD,
                # Which build runs: a rebuilt jar changes the rendered config, so `make up`
                # restarts the registry on it (run-eureka.sh runs a copy, never the build output).
                "EUREKA_BUILD": eureka_build(),
            },
        ),
        Program(
            "mailsink",
            f"{layout.PYTHON} -m aiosmtpd -n -l 127.0.0.1:{layout.MAILSINK_PORT}"
            f" -c aiosmtpd.handlers.Mailbox {layout.MAIL_DIR}",
            "infra",
        ),
        Program(
            "sms_sink",
            f"{layout.PYTHON} -m sms_sink",
            "infra",
            environment={
                "SMS_SINK_PORT": str(layout.SMS_SINK_PORT),
                "SMS_SINK_STORE_PATH": str(layout.SMS_DIR / "messages.jsonl"),
                "PYTHONUNBUFFERED": "1",
            },
        ),
        Program(
            "postgres_exporter",
            postgres.exporter_command(),
            "infra",
            environment=postgres.exporter_environment(),
        ),
        Program("alertmanager", alertmanager.command(), "infra"),
        Program("prometheus", prometheus.command(), "infra"),
    ]


EUREKA_JAR = layout.REPO / "infra" / "eureka-server" / "target" / "eureka-server.jar"


def eureka_build() -> str:
    """Size and modification time of the built registry jar ("none" before the first build)."""
    try:
        stat = EUREKA_JAR.stat()
    except FileNotFoundError:
        return "none"
    return f"{stat.st_size}-{stat.st_mtime_ns}"


PASS_THROUGH = (
    "SAGA_TIMEOUT",
    "PIX_PAYMENT_TIMEOUT",
    "PAYMENT_DECLINE_ABOVE",
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
)


# Each secret goes only to the processes that use it.
SECRETS = {
    "auth_service": {
        "AUTH_KEY_ENCRYPTION_KEY": layout.KEY_ENCRYPTION_KEY,
        "FORWARDING_SECRET": layout.FORWARDING_SECRET,
    },
    "gateway": {"FORWARDING_SECRET": layout.FORWARDING_SECRET},
}


def common_environment() -> dict[str, str]:
    """Settings every platform process gets."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": layout.KAFKA_BOOTSTRAP,
        "EUREKA_URL": layout.EUREKA_URL,
        "EUREKA_USERNAME": layout.EUREKA_USERNAME,
        "EUREKA_PASSWORD": layout.EUREKA_PASSWORD,
        "JWKS_URL": layout.JWKS_URL,
        "PYTHONUNBUFFERED": "1",
        # Documented knobs that `make up` passes on when set (see .env.example).
        **{name: os.environ[name] for name in PASS_THROUGH if name in os.environ},
    }


def service_programs() -> list[Program]:
    """Every service that has an app (``<package>/main.py``), one instance each."""
    programs = []
    for service in layout.SERVICES:
        if not (layout.REPO / service.package / "main.py").exists():
            continue
        prefix = service.env_prefix
        programs.append(
            Program(
                service.package,
                f"{layout.PYTHON} -m {service.package}",
                "apps",
                environment={
                    **common_environment(),
                    f"{prefix}_PORT": str(service.port),
                    f"{prefix}_DATABASE_URL": layout.database_url(service.database),
                    **SECRETS.get(service.package, {}),
                },
            )
        )
    return programs


def app_programs() -> list[Program]:
    """The platform's own processes: relay, services, gateway."""
    relay_databases = {
        service.name: layout.relay_url(service.database) for service in layout.SERVICES
    }
    relay = Program(
        "outbox_relay",
        f"{layout.PYTHON} -m outbox_relay",
        "apps",
        environment={
            **common_environment(),
            "RELAY_DATABASES": json.dumps(relay_databases),
            "RELAY_HTTP_PORT": str(layout.RELAY_HTTP_PORT),
        },
    )
    gateway = []
    if (layout.REPO / "gateway" / "__main__.py").exists():
        gateway = [
            Program(
                "gateway",
                f"{layout.PYTHON} -m gateway",
                "apps",
                environment={
                    **common_environment(),
                    "GATEWAY_PORT": str(layout.GATEWAY_PORT),
                    **SECRETS["gateway"],
                },
            )
        ]
    # Not a platform service: no Eureka, no Kafka; the services call it by PAYMENT_PROVIDER_URL.
    payment_provider = Program(
        "payment_provider",
        f"{layout.PYTHON} -m payment_provider",
        "apps",
        environment={
            "PROVIDER_PORT": str(layout.PAYMENT_PROVIDER_PORT),
            "PROVIDER_DATABASE_URL": layout.database_url(layout.PAYMENT_PROVIDER_DATABASE),
            "PYTHONUNBUFFERED": "1",
        },
    )
    return [relay, payment_provider, *service_programs(), *gateway]


# -- readiness -------------------------------------------------------------------------------


def http_ok(url: str) -> bool:
    """True when GET url answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - fixed local URLs
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError):
        return False


def kafka_ready() -> bool:
    """True when the broker answers a metadata request (its port opens only once it serves)."""
    import socket

    from confluent_kafka.admin import AdminClient

    host, _, port = layout.KAFKA_BOOTSTRAP.split(",")[0].rpartition(":")
    with socket.socket() as sock:
        if sock.connect_ex((host if host != "localhost" else "127.0.0.1", int(port))) != 0:
            return False
    try:
        AdminClient({"bootstrap.servers": layout.KAFKA_BOOTSTRAP}).list_topics(timeout=5)
        return True
    except Exception:  # noqa: BLE001 - any failure means not ready yet
        return False


def smtp_ready() -> bool:
    """True when the mail sink greets with its SMTP banner."""
    import smtplib

    try:
        with smtplib.SMTP("127.0.0.1", layout.MAILSINK_PORT, timeout=2) as smtp:
            return bool(smtp.noop()[0] == 250)
    except OSError:
        return False


READINESS: dict[str, tuple[Callable[[], bool], float]] = {
    "postgres": (postgres.is_ready, 60),
    "kafka": (kafka_ready, 120),
    "eureka": (lambda: http_ok("http://127.0.0.1:8761/actuator/health"), 180),
    "mailsink": (smtp_ready, 30),
    "sms_sink": (lambda: http_ok(f"http://127.0.0.1:{layout.SMS_SINK_PORT}/health"), 60),
    "payment_provider": (
        lambda: http_ok(f"http://127.0.0.1:{layout.PAYMENT_PROVIDER_PORT}/health"),
        60,
    ),
    "postgres_exporter": (
        lambda: http_ok(f"http://127.0.0.1:{layout.POSTGRES_EXPORTER_PORT}/"),
        30,
    ),
    "alertmanager": (alertmanager.is_ready, 60),
    "prometheus": (prometheus.is_ready, 60),
    "outbox_relay": (lambda: http_ok(f"http://127.0.0.1:{layout.RELAY_HTTP_PORT}/health"), 60),
    "gateway": (lambda: http_ok(f"http://127.0.0.1:{layout.GATEWAY_PORT}/health"), 60),
    **{
        service.package: (functools.partial(http_ok, service.health_url), 90)
        for service in layout.SERVICES
    },
}


def wait_ready(name: str) -> None:
    """Block until a program is ready, or exit with the tail of its log."""
    check, timeout = READINESS[name]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            log_file = layout.LOG_DIR / f"{name}.log"
            tail = (
                "\n".join(log_file.read_text(errors="replace").splitlines()[-30:])
                if log_file.exists()
                else "(no log yet)"
            )
            raise SystemExit(
                f"{name} did not become ready within {timeout:.0f}s; "
                f"last lines of {log_file}:\n{tail}"
            )
        time.sleep(0.25)


# -- commands ----------------------------------------------------------------------------------


def install() -> None:
    """Fetch and build what the engines need (each step is a no-op when already done)."""
    subprocess.run([str(layout.INFRA_BIN / "install-kafka.sh")], check=True)
    subprocess.run([str(layout.INFRA_BIN / "build-eureka.sh")], check=True)


def check_ports_free() -> None:
    """Refuse to start an engine on a port somebody else already holds."""
    import socket

    ours = {p["name"] for p in supervisor.process_info() if p["statename"] == "RUNNING"}
    for name, port in (
        ("postgres", layout.PG_PORT),
        ("kafka", 9092),
        ("eureka", 8761),
        ("prometheus", prometheus.PORT),
        ("alertmanager", layout.ALERTMANAGER_PORT),
        ("postgres_exporter", layout.POSTGRES_EXPORTER_PORT),
    ):
        if name in ours:
            continue
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(
                    f"port {port} is already in use, so {name} cannot start; stop whatever holds "
                    f"it (`ss -ltnp 'sport = :{port}'`)"
                )


def migrate() -> None:
    """Create each service's role and database, run its Alembic migrations as that role, and
    grant the relay what it needs."""
    from servicekit.migrations import upgrade

    databases = [service.database for service in layout.SERVICES]
    postgres.ensure_roles({s.database: s.role for s in layout.SERVICES}, layout.RELAY_ROLE)
    postgres.ensure_extensions(databases)
    for service in layout.SERVICES:
        upgrade(service.package, layout.database_url(service.database))
    postgres.grant_relay(databases, layout.RELAY_ROLE)
    postgres.ensure_monitoring_role(layout.MONITORING_ROLE)
    # The payment provider's own database (a stand-in for another company's: no outbox, no relay).
    provider = layout.PAYMENT_PROVIDER_DATABASE
    postgres.ensure_roles({provider: layout.PAYMENT_PROVIDER_ROLE}, relay=None)
    upgrade("payment_provider", layout.database_url(provider))
    print(f"postgres: migrations applied to {len(layout.SERVICES)} service databases")


def create_topics() -> None:
    """The event catalog's topics (one per aggregate) and their dead-letter topics."""
    from contracts.events import AGGREGATE_OWNERS
    from servicekit.messaging.envelope import dlq_topic_for, topic_for
    from servicekit.messaging.kafka import ensure_topics
    from servicekit.settings import KafkaSettings

    topics = [topic_for(a) for a in AGGREGATE_OWNERS]
    ensure_topics(KafkaSettings(), [*topics, *(dlq_topic_for(t) for t in topics)])
    print(f"kafka: topics ready: {', '.join(topics)} (+ .dlq)")


def up(args: argparse.Namespace) -> None:
    """Install, start and wait for everything; a second run reuses what already runs."""
    install()
    postgres.ensure_cluster()
    prometheus.write_config()
    alertmanager.write_config()
    infra = infra_programs()
    apps = [] if args.infra_only else app_programs()
    changed = supervisor.render(infra + app_programs())
    supervisor.ensure_running(changed)
    check_ports_free()
    for program in infra:
        supervisor.start(program.name)
    for program in infra:
        wait_ready(program.name)
    if postgres.reload_config():
        print("postgres: a changed setting needs a restart; restarting")
        supervisor.ctl("restart", "postgres")
        wait_ready("postgres")
    migrate()
    create_topics()
    for program in apps:
        supervisor.start(program.name)
    for program in apps:
        wait_ready(program.name)
    status(args)


def down(_: argparse.Namespace) -> None:
    """Stop every process and the supervisor itself."""
    if not supervisor.is_running():
        print("nothing runs")
        return
    rpc = supervisor.rpc()
    rpc.stopAllProcesses(True)
    rpc.shutdown()
    print("stopped every process and supervisord")


PORTS = {
    "postgres": f"127.0.0.1:{layout.PG_PORT}",
    "kafka": f"localhost:9092 (ctl 9093, jmx {layout.KAFKA_JMX_EXPORTER_PORT})",
    "eureka": "http://127.0.0.1:8761",
    "mailsink": f"smtp://127.0.0.1:{layout.MAILSINK_PORT} (Maildir)",
    "sms_sink": f"http://127.0.0.1:{layout.SMS_SINK_PORT}",
    "payment_provider": f"http://127.0.0.1:{layout.PAYMENT_PROVIDER_PORT}",
    "postgres_exporter": f"http://127.0.0.1:{layout.POSTGRES_EXPORTER_PORT}/metrics",
    "alertmanager": alertmanager.URL,
    "prometheus": prometheus.URL,
    "outbox_relay": f"http://127.0.0.1:{layout.RELAY_HTTP_PORT}",
    "gateway": f"http://localhost:{layout.GATEWAY_PORT}",
    **{service.package: f"http://127.0.0.1:{service.port}" for service in layout.SERVICES},
}


def status(_: argparse.Namespace) -> None:
    """One line per process: state, pid, address, log file."""
    if not supervisor.is_running():
        print("supervisord is not running: `make up` starts everything")
        return
    print(f"{'process':<22}{'state':<10}{'pid':>8}  {'address':<36}log")
    for info in supervisor.process_info():
        name = info["name"]
        print(
            f"{name:<22}{info['statename']:<10}{info['pid'] or '-':>8}  "
            f"{PORTS.get(name, '-'):<36}{layout.LOG_DIR / (name + '.log')}"
        )


def logs(args: argparse.Namespace) -> None:
    """Follow the log files (all, or the named processes), or every line of one correlation id."""
    if args.cid is not None:
        logfollow.follow(layout.LOG_DIR, logfollow.check_correlation_id(args.cid))
        return
    names = args.names or sorted(p.stem for p in layout.LOG_DIR.glob("*.log"))
    files = [str(layout.LOG_DIR / f"{name}.log") for name in names]
    os.execvp("tail", ["tail", "-n", "20", "-F", *files])


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="install, start and wait for everything")
    up_parser.add_argument(
        "--infra-only",
        action="store_true",
        help="only PostgreSQL, Kafka and Eureka (with migrations and topics)",
    )
    up_parser.set_defaults(func=up)
    commands.add_parser("down", help="stop everything").set_defaults(func=down)
    commands.add_parser("status", help="show each process").set_defaults(func=status)
    logs_parser = commands.add_parser("logs", help="follow the logs")
    logs_parser.add_argument("names", nargs="*")
    logs_parser.add_argument(
        "--cid", help="only lines carrying this correlation id, from every log (then follow)"
    )
    logs_parser.set_defaults(func=logs)
    trace_parser = commands.add_parser(
        "trace", help="one order: saga, Kafka messages, inbox entries, then its log lines"
    )
    trace_parser.add_argument("order_id")
    trace_parser.set_defaults(func=lambda args: operators.trace(args.order_id))
    commands.add_parser("dlq", help="every dead letter, one per line").set_defaults(
        func=lambda _: operators.dead_letters()
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0 and args.command == "up":
        print(
            "note: devstack runs PostgreSQL as the 'postgres' user and needs root", file=sys.stderr
        )
    args.func(args)
