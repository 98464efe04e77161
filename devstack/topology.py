"""The HA topology (`make up TOPOLOGY=ha`): every platform process twice, a Kafka cluster of
three KRaft nodes, two Eureka peers; and the readiness check that says a Kafka node serves.

The single topology (`make up`) is devstack.cli's own table; this module only adds what differs.
The PostgreSQL server and the stand-ins for outside companies (mail, SMS, payment provider) stay
single in both: they are not the platform's processes.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from devstack import layout
from devstack.supervisor import Program

SINGLE = "single"
HA = "ha"
TOPOLOGIES = (SINGLE, HA)
TOPOLOGY_FILE = layout.VAR / "topology"

# Kafka cluster: node n listens for clients on 9092 + 100 (n - 1), for the controller quorum on
# the port after it, and serves its JMX metrics on 9404 + (n - 1).
KAFKA_NODES = (1, 2, 3)
KAFKA_HA_REPLICATION_FACTOR = 3
KAFKA_HA_MIN_INSYNC_REPLICAS = 2
KAFKA_HA_STATE = layout.VAR / "kafka-ha"
# The second of everything listens this far above the first (services 8111-8117, relay 8191).
SECOND_INSTANCE_OFFSET = 10
RELAY_HA_PORTS = (layout.RELAY_HTTP_PORT, layout.RELAY_HTTP_PORT + 1)
# Eureka peers. A peer whose own host name equals a peer URL's host takes that URL for itself and
# never replicates to it, so the two are told apart by name: 127.0.0.1 and localhost.
EUREKA_PEERS = (("127.0.0.1", 8761), ("localhost", 8762))
READINESS_TOPIC = "devstack.readiness"


@dataclass(frozen=True)
class KafkaNode:
    """One node of the local Kafka cluster."""

    node_id: int

    @property
    def port(self) -> int:
        """Client (PLAINTEXT) port."""
        return 9092 + 100 * (self.node_id - 1)

    @property
    def controller_port(self) -> int:
        """KRaft controller port."""
        return self.port + 1

    @property
    def jmx_port(self) -> int:
        """Where the JMX exporter agent serves this node's metrics."""
        return layout.KAFKA_JMX_EXPORTER_PORT + self.node_id - 1

    @property
    def address(self) -> str:
        """host:port clients bootstrap from."""
        return f"localhost:{self.port}"


NODES = tuple(KafkaNode(n) for n in KAFKA_NODES)


def read_topology() -> str:
    """The topology var/ was last started with (single when never)."""
    try:
        value = TOPOLOGY_FILE.read_text().strip()
    except FileNotFoundError:
        return SINGLE
    return value if value in TOPOLOGIES else SINGLE


def write_topology(topology: str) -> None:
    """Remember the topology for status, down and the tests."""
    TOPOLOGY_FILE.parent.mkdir(parents=True, exist_ok=True)
    TOPOLOGY_FILE.write_text(topology + "\n")


def kafka_bootstrap(topology: str) -> str:
    """What every Kafka client of this topology bootstraps from."""
    if topology == HA:
        return ",".join(node.address for node in NODES)
    return layout.KAFKA_BOOTSTRAP


def eureka_url(topology: str) -> str:
    """EUREKA_URL of this topology: both peers in HA, tried in turn by every client."""
    if topology == HA:
        return ",".join(f"http://{host}:{port}/eureka" for host, port in EUREKA_PEERS)
    return layout.EUREKA_URL


def ha_environment() -> dict[str, str]:
    """Settings every platform process gets in HA, on top of the single topology's."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap(HA),
        "KAFKA_TOPIC_REPLICATION_FACTOR": str(KAFKA_HA_REPLICATION_FACTOR),
        "EUREKA_URL": eureka_url(HA),
        "JWKS_URL": jwks_url(HA),
    }


def jwks_url(topology: str) -> str:
    """JWKS_URL of this topology: in HA both auth instances, asked in turn, so that a process
    starting while one is down still gets the keys (unless JWKS_URL is set explicitly)."""
    if topology != HA or "JWKS_URL" in os.environ:
        return layout.JWKS_URL
    ports = [layout.SERVICES[0].port + index * SECOND_INSTANCE_OFFSET for index in range(2)]
    return ",".join(f"http://127.0.0.1:{port}/api/auth/.well-known/jwks.json" for port in ports)


def ensure_cluster_id() -> None:
    """One cluster id for the three nodes, written before any of them formats its storage."""
    path = KAFKA_HA_STATE / "cluster.id"
    if path.exists() and path.read_text().strip():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # Kafka's own form: 16 random bytes, URL-safe base64 without padding.
    path.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode() + "\n")


def kafka_programs() -> list[Program]:
    """The three KRaft nodes, each broker and controller, static voters."""
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in NODES)
    return [
        Program(
            f"kafka-{node.node_id}",
            str(layout.INFRA_BIN / "run-kafka.sh"),
            "infra",
            environment={
                "KAFKA_NODE_ID": str(node.node_id),
                "KAFKA_PORT": str(node.port),
                "KAFKA_CONTROLLER_PORT": str(node.controller_port),
                "KAFKA_JMX_EXPORTER_PORT": str(node.jmx_port),
                "KAFKA_STATE_DIR": str(KAFKA_HA_STATE / f"node-{node.node_id}"),
                "KAFKA_CLUSTER_ID_FILE": str(KAFKA_HA_STATE / "cluster.id"),
                "KAFKA_CONTROLLER_QUORUM_VOTERS": voters,
                "KAFKA_REPLICATION_FACTOR": str(KAFKA_HA_REPLICATION_FACTOR),
                "KAFKA_MIN_INSYNC_REPLICAS": str(KAFKA_HA_MIN_INSYNC_REPLICAS),
                # Three JVMs on one machine: a smaller heap each.
                "KAFKA_HEAP_OPTS": "-Xms256m -Xmx512m",
            },
            stopwaitsecs=60,
        )
        for node in NODES
    ]


def eureka_programs(base: Program) -> list[Program]:
    """Two registry peers, each replicating to the other (``base``: the single registry)."""
    import json

    programs = []
    for index, (host, port) in enumerate(EUREKA_PEERS):
        other_host, other_port = EUREKA_PEERS[1 - index]
        credentials = f"{layout.EUREKA_USERNAME}:{layout.EUREKA_PASSWORD}"
        # Spring Boot's highest-precedence property source short of the command line: the peer
        # settings of application.yml's standalone registry, overridden without a rebuild.
        spring = {
            "eureka": {
                "instance": {"hostname": host},
                "client": {
                    "register-with-eureka": True,
                    "fetch-registry": True,
                    "service-url": {
                        "defaultZone": f"http://{credentials}@{other_host}:{other_port}/eureka/"
                    },
                },
            }
        }
        programs.append(
            Program(
                f"eureka-{index + 1}",
                base.command,
                "infra",
                environment={
                    **base.environment,
                    "EUREKA_PORT": str(port),
                    "SPRING_APPLICATION_JSON": json.dumps(spring),
                },
            )
        )
    return programs


def twice(program: Program, port_setting: str, port: int) -> list[Program]:
    """A platform process as two instances, the second SECOND_INSTANCE_OFFSET ports higher."""
    return [
        Program(
            f"{program.name}-{index + 1}",
            program.command,
            program.group,
            environment={
                **program.environment,
                **ha_environment(),
                port_setting: str(port + index * SECOND_INSTANCE_OFFSET),
            },
            stopsignal=program.stopsignal,
            stopwaitsecs=program.stopwaitsecs,
        )
        for index in range(2)
    ]


def relay_programs(base: Program) -> list[Program]:
    """Two relays over every database: for each, one leads and the other stands by."""
    return [
        Program(
            f"{base.name}-{index + 1}",
            base.command,
            base.group,
            environment={**base.environment, **ha_environment(), "RELAY_HTTP_PORT": str(port)},
        )
        for index, port in enumerate(RELAY_HA_PORTS)
    ]


def gateway_programs(base: Program) -> list[Program]:
    """Two gateways on the same port (SO_REUSEPORT), each supervised on its own."""
    return [
        Program(
            f"{base.name}-{index + 1}",
            base.command,
            base.group,
            environment={**base.environment, **ha_environment(), "GATEWAY_REUSE_PORT": "true"},
        )
        for index in range(2)
    ]


# -- readiness: a Kafka node serves ---------------------------------------------------------


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def kafka_serving(address: str, node_id: int, bootstrap: str, replication_factor: int) -> bool:
    """True when the node at ``address`` serves: it answers metadata naming itself among the
    cluster's live brokers, it is in the in-sync replicas of the readiness topic (created with
    the topology's replication factor), and a write with acks=all through it is acknowledged.

    The broker opens its port before it has caught up; the supervisor calls it running two
    seconds after the start. Neither means it serves.
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    if not _port_open(int(address.rpartition(":")[2])):
        return False
    try:
        admin = AdminClient({"bootstrap.servers": address, "socket.timeout.ms": 3000})
        metadata = admin.list_topics(timeout=3)
        if node_id not in metadata.brokers:
            return False
        topic = metadata.topics.get(READINESS_TOPIC)
        if topic is None:
            if len(metadata.brokers) >= replication_factor:
                _create_readiness_topic(bootstrap, replication_factor)
            return False  # look again once the topic's replicas exist
        partition = topic.partitions.get(0)
        in_sync = partition is not None and partition.error is None and node_id in partition.isrs
        return in_sync and _acknowledged_write(address)
    except KafkaException:
        return False


def _create_readiness_topic(bootstrap: str, replication_factor: int) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})  # alive until the futures resolve
    futures = admin.create_topics(
        [NewTopic(READINESS_TOPIC, num_partitions=1, replication_factor=replication_factor)]
    )
    for future in futures.values():
        with contextlib.suppress(KafkaException):  # created by a concurrent check: as good
            future.result(timeout=5)


def _acknowledged_write(address: str) -> bool:
    """One acks=all write bootstrapped from ``address``, acknowledged within a few seconds."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": address,
            "acks": "all",
            "enable.idempotence": True,
            "message.timeout.ms": 5000,
            "socket.timeout.ms": 3000,
        }
    )
    delivered: list[bool] = []
    producer.produce(
        READINESS_TOPIC,
        value=b"ready",
        on_delivery=lambda err, _msg: delivered.append(err is None),
    )
    producer.flush(6)
    return delivered == [True]


def kafka_readiness(topology: str) -> dict[str, Callable[[], bool]]:
    """The serving check of every Kafka process of the topology, by program name."""
    if topology == HA:
        bootstrap = kafka_bootstrap(HA)
        return {
            f"kafka-{node.node_id}": functools.partial(
                kafka_serving, node.address, node.node_id, bootstrap, KAFKA_HA_REPLICATION_FACTOR
            )
            for node in NODES
        }
    return {
        "kafka": functools.partial(
            kafka_serving, layout.KAFKA_BOOTSTRAP.split(",")[0], 1, layout.KAFKA_BOOTSTRAP, 1
        )
    }
