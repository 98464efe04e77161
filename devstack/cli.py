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
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from devstack import (
    alertmanager,
    layout,
    logfollow,
    operators,
    postgres,
    prometheus,
    supervisor,
    topology,
)
from devstack.supervisor import Program

if TYPE_CHECKING:
    from servicekit.settings import KafkaSettings


def infra_programs(shape: str = topology.SINGLE) -> list[Program]:
    """The real engines, in start order; in HA three Kafka nodes and two Eureka peers."""
    programs = single_infra_programs()
    if shape != topology.HA:
        return programs
    by_name = {program.name: program for program in programs}
    return [
        by_name["postgres"],
        *topology.kafka_programs(),
        *topology.eureka_programs(by_name["eureka"]),
        *(p for p in programs if p.name not in ("postgres", "kafka", "eureka")),
    ]


def single_infra_programs() -> list[Program]:
    """The real engines of the single topology, in start order."""
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
            f"{layout.PYTHON} -m devstack.mailsink 127.0.0.1:{layout.MAILSINK_PORT}"
            f" {layout.MAIL_DIR}",
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
    "GATEWAY_WORKERS",
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
        # A process that dies of a native fault (SIGSEGV, SIGABRT, ...) writes every thread's
        # Python stack to its log first: the supervisor alone says only which signal it was.
        "PYTHONFAULTHANDLER": "1",
        # Documented knobs that `make up` passes on when set (see .env.example).
        **{name: os.environ[name] for name in PASS_THROUGH if name in os.environ},
    }


def service_programs() -> list[Program]:
    """Every service that has an app (``<package>/main.py``), one instance each, connected to
    its database through PostgreSQL's Unix socket."""
    postgres.choose_data_dir()
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
                    f"{prefix}_DATABASE_URL": layout.database_url(service.database, socket=True),
                    **SECRETS.get(service.package, {}),
                },
            )
        )
    return programs


def app_programs(shape: str = topology.SINGLE) -> list[Program]:
    """The platform's own processes: relay, services, gateway; in HA two of each."""
    programs = single_app_programs()
    if shape != topology.HA:
        return programs
    ports = {service.package: service for service in layout.SERVICES}
    ha: list[Program] = []
    for program in programs:
        if program.name == "outbox_relay":
            ha.extend(topology.relay_programs(program))
        elif program.name == "gateway":
            ha.extend(topology.gateway_programs(program))
        elif program.name in ports:
            service = ports[program.name]
            ha.extend(topology.twice(program, f"{service.env_prefix}_PORT", service.port))
        else:
            ha.append(program)  # the payment provider: a stand-in for another company
    return ha


def single_app_programs() -> list[Program]:
    """The platform's own processes of the single topology."""
    postgres.choose_data_dir()
    relay_databases = {
        service.name: layout.relay_url(service.database, socket=True) for service in layout.SERVICES
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
            "PROVIDER_DATABASE_URL": layout.database_url(
                layout.PAYMENT_PROVIDER_DATABASE, socket=True
            ),
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
    """True when the Kafka of the running topology serves (a node of it, in HA)."""
    return any(check() for check in topology.kafka_readiness(topology.read_topology()).values())


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
    # Serving, not merely started: metadata, in sync, an acks=all write (topology.kafka_serving).
    "kafka": (topology.kafka_readiness(topology.SINGLE)["kafka"], 120),
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


def gateway_routes(services: Iterable[layout.Service] = layout.SERVICES) -> bool:
    """The gateway's copy of the registry holds an UP instance of each of ``services``.

    Ready is not routable: a service that answers /health registers with Eureka, and the gateway
    learns of it at its next registry refresh; a request in between is answered 503.
    """
    return routing_gap(services) is None


def routing_gap(services: Iterable[layout.Service] = layout.SERVICES) -> str | None:
    """None once the gateway routes to each of ``services``; otherwise what is missing, in words
    an operator can act on (which services, or that the gateway does not answer)."""
    url = f"http://127.0.0.1:{layout.GATEWAY_PORT}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except (OSError, urllib.error.URLError) as exc:
        return f"the gateway does not answer at {url} ({exc})"
    instances: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith('gateway_upstream_instances{service="'):
            labels, _, value = line.rpartition(" ")
            instances[labels.split('"')[1]] = float(value)
    missing = [app for app in map(eureka_app, services) if instances.get(app, 0) < 1]
    if missing:
        return f"no UP instance of {', '.join(missing)} in the gateway's copy of the registry"
    return None


def eureka_app(service: layout.Service) -> str:
    """The name a service registers under in Eureka: ORDER-SERVICE for order_service."""
    return service.package.replace("_", "-").upper()


# Consecutive answers that must agree: in HA two gateways share the port, each with its own copy.
ROUTABLE_CONFIRMATIONS = 3


def wait_routable(timeout: float = 60.0) -> None:
    """Block until the gateway routes to every service, or exit pointing at its gauge."""
    deadline = time.monotonic() + timeout
    agreed = 0
    while agreed < ROUTABLE_CONFIRMATIONS:
        gap = routing_gap()
        agreed = agreed + 1 if gap is None else 0
        if time.monotonic() > deadline:
            raise SystemExit(
                f"the gateway did not route to every service within {timeout:.0f}s: {gap} "
                f"(its gateway_upstream_instances at :{layout.GATEWAY_PORT}/metrics; the "
                "services' logs under var/log say why one did not register)"
            )
        time.sleep(0.25)


# Twice the processes start at once in HA, on the same cores: each may take longer to be ready.
HA_APP_READY_SECONDS = 240


def readiness(shape: str) -> dict[str, tuple[Callable[[], bool], float]]:
    """Every program's readiness check and how long to wait for it, in this topology."""
    if shape != topology.HA:
        return READINESS
    checks = {
        name: entry
        for name, entry in READINESS.items()
        if name not in ("kafka", "eureka", "outbox_relay", "gateway")
        and name not in {service.package for service in layout.SERVICES}
    }
    check, _ = checks["payment_provider"]
    checks["payment_provider"] = (check, HA_APP_READY_SECONDS)
    for name, check in topology.kafka_readiness(topology.HA).items():
        checks[name] = (check, 180)
    for index, (_, port) in enumerate(topology.EUREKA_PEERS):
        url = f"http://127.0.0.1:{port}/actuator/health"
        checks[f"eureka-{index + 1}"] = (functools.partial(http_ok, url), 180)
    for index, port in enumerate(topology.RELAY_HA_PORTS):
        url = f"http://127.0.0.1:{port}/health"
        checks[f"outbox_relay-{index + 1}"] = (
            functools.partial(http_ok, url),
            HA_APP_READY_SECONDS,
        )
    gateway_health = f"http://127.0.0.1:{layout.GATEWAY_PORT}/health"
    for index in range(2):
        checks[f"gateway-{index + 1}"] = (
            functools.partial(http_ok, gateway_health),
            HA_APP_READY_SECONDS,
        )
        for service in layout.SERVICES:
            port = service.port + index * topology.SECOND_INSTANCE_OFFSET
            url = f"http://127.0.0.1:{port}/health"
            checks[f"{service.package}-{index + 1}"] = (
                functools.partial(http_ok, url),
                HA_APP_READY_SECONDS,
            )
    return checks


def wait_ready(name: str, shape: str = topology.SINGLE) -> None:
    """Block until a program is ready, or exit with the tail of its log."""
    check, timeout = readiness(shape)[name]
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


def check_ports_free(shape: str = topology.SINGLE) -> None:
    """Refuse to start an engine on a port somebody else already holds."""
    import socket

    ours = {p["name"] for p in supervisor.process_info() if p["statename"] == "RUNNING"}
    engines = [("kafka", 9092), ("eureka", 8761)]
    if shape == topology.HA:
        engines = [(f"kafka-{n.node_id}", n.port) for n in topology.NODES] + [
            (f"eureka-{i + 1}", port) for i, (_, port) in enumerate(topology.EUREKA_PEERS)
        ]
    for name, port in (
        ("postgres", layout.PG_PORT),
        *engines,
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


def kafka_settings(shape: str) -> KafkaSettings:
    """How devstack's own clients reach the topology's Kafka, and the topics it creates there."""
    from servicekit.settings import KafkaSettings

    if shape == topology.HA:
        return KafkaSettings(
            bootstrap_servers=topology.kafka_bootstrap(topology.HA),
            topic_replication_factor=topology.KAFKA_HA_REPLICATION_FACTOR,
        )
    return KafkaSettings()


def create_topics(shape: str = topology.SINGLE) -> None:
    """The event catalog's topics (one per aggregate) and their dead-letter topics; in HA
    replicated three times."""
    from contracts.events import AGGREGATE_OWNERS
    from servicekit.messaging.envelope import dlq_topic_for, topic_for
    from servicekit.messaging.kafka import ensure_topics

    topics = [topic_for(a) for a in AGGREGATE_OWNERS]
    ensure_topics(kafka_settings(shape), [*topics, *(dlq_topic_for(t) for t in topics)])
    print(f"kafka: topics ready: {', '.join(topics)} (+ .dlq)")


def warm_up_kafka(shape: str) -> None:
    """Exercise a broker this run started before the services use it (kafka_warmup.py)."""
    if layout.KAFKA_WARMUP_SECONDS <= 0:
        return
    from devstack import kafka_warmup

    report = kafka_warmup.warm_up(kafka_settings(shape), layout.KAFKA_WARMUP_SECONDS)
    print(
        f"kafka: warmed up ({report.produced} messages produced, {report.consumed} consumed "
        f"in {report.seconds:.1f}s)"
    )


def up(args: argparse.Namespace) -> None:
    """Install, start and wait for everything; a second run reuses what already runs."""
    shape = args.topology
    running = topology.read_topology()
    if supervisor.is_running() and running != shape:
        raise SystemExit(
            f"the stack in {layout.VAR} runs TOPOLOGY={running}: `make down` first, then "
            f"`make up{' TOPOLOGY=ha' if shape == topology.HA else ''}` (each topology keeps its "
            "own Kafka data, so nothing is lost)"
        )
    install()
    postgres.ensure_cluster()
    prometheus.write_config(shape)
    alertmanager.write_config()
    if shape == topology.HA:
        topology.ensure_cluster_id()
    infra = infra_programs(shape)
    apps = [] if args.infra_only else app_programs(shape)
    changed = supervisor.render(infra + app_programs(shape))
    topology.write_topology(shape)
    supervisor.ensure_running(changed)
    check_ports_free(shape)
    started = {program.name for program in infra if supervisor.start(program.name)}
    for program in infra:
        wait_ready(program.name, shape)
    if postgres.reload_config():
        print("postgres: a changed setting needs a restart; restarting")
        supervisor.ctl("restart", "postgres")
        wait_ready("postgres")
    migrate()
    create_topics(shape)
    if started & set(topology.kafka_readiness(shape)) and apps:
        warm_up_kafka(shape)
    for program in apps:
        supervisor.start(program.name)
    for program in apps:
        wait_ready(program.name, shape)
    if apps:
        wait_routable()
    status(args)


def ready(args: argparse.Namespace) -> None:
    """Wait until the named programs are ready (Kafka: serving), e.g. after a restart."""
    shape = topology.read_topology()
    checks = readiness(shape)
    unknown = [name for name in args.names if name not in checks]
    if unknown:
        raise SystemExit(f"no readiness check for {', '.join(unknown)}; known: {sorted(checks)}")
    for name in args.names:
        started = time.monotonic()
        wait_ready(name, shape)
        print(f"{name}: ready ({time.monotonic() - started:.1f}s)")


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


def addresses(shape: str) -> dict[str, str]:
    """Where each program of the topology listens."""
    if shape != topology.HA:
        return PORTS
    ports = dict(PORTS)
    for node in topology.NODES:
        ports[f"kafka-{node.node_id}"] = (
            f"{node.address} (ctl {node.controller_port}, jmx {node.jmx_port})"
        )
    for index, (host, port) in enumerate(topology.EUREKA_PEERS):
        ports[f"eureka-{index + 1}"] = f"http://{host}:{port}"
    for index, port in enumerate(topology.RELAY_HA_PORTS):
        ports[f"outbox_relay-{index + 1}"] = f"http://127.0.0.1:{port}"
    for index in range(2):
        ports[f"gateway-{index + 1}"] = f"http://localhost:{layout.GATEWAY_PORT} (SO_REUSEPORT)"
        for service in layout.SERVICES:
            port = service.port + index * topology.SECOND_INSTANCE_OFFSET
            ports[f"{service.package}-{index + 1}"] = f"http://127.0.0.1:{port}"
    return ports


def status(_: argparse.Namespace) -> None:
    """One line per process: state, pid, address, log file."""
    if not supervisor.is_running():
        print("supervisord is not running: `make up` starts everything")
        return
    shape = topology.read_topology()
    where = addresses(shape)
    print(f"topology: {shape}")
    print(f"{'process':<24}{'state':<10}{'pid':>8}  {'address':<44}log")
    for info in supervisor.process_info():
        name = info["name"]
        print(
            f"{name:<24}{info['statename']:<10}{info['pid'] or '-':>8}  "
            f"{where.get(name, '-'):<44}{layout.LOG_DIR / (name + '.log')}"
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
    up_parser.add_argument(
        "--topology",
        choices=topology.TOPOLOGIES,
        default=topology.SINGLE,
        help="single: one of everything; ha: two of every platform process, three Kafka nodes",
    )
    up_parser.set_defaults(func=up)
    ready_parser = commands.add_parser(
        "ready", help="wait until the named programs are ready (Kafka: serving)"
    )
    ready_parser.add_argument("names", nargs="+")
    ready_parser.set_defaults(func=ready)
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
