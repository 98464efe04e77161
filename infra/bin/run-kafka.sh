#!/usr/bin/env bash
# Run a Kafka 4.x node (KRaft, combined broker+controller) in the foreground: a
# single node, or one node of a cluster when KAFKA_CONTROLLER_QUORUM_VOTERS is set. Meant to be managed by a process supervisor: the last step
# `exec`s the JVM, so signals reach Kafka directly (SIGTERM = clean shutdown).
#
# Environment (defaults in brackets):
#   KAFKA_HOST [127.0.0.1]            bind address of both listeners
#   KAFKA_PORT [9092]                 client (PLAINTEXT) port
#   KAFKA_CONTROLLER_PORT [9093]      KRaft controller port
#   KAFKA_ADVERTISED_HOST [localhost] host clients are told to connect to
#   KAFKA_STATE_DIR [<repo>/var/kafka]  rendered config (relative = repo-relative)
#   KAFKA_DATA_DIR [$KAFKA_STATE_DIR/data]  log.dirs (relative = repo-relative)
#   KAFKA_NODE_ID [1]
#   KAFKA_CONTROLLER_QUORUM_VOTERS    a cluster's static voters (1@host:port,2@host:port,...);
#                                     unset: a single node formatted --standalone
#   KAFKA_CLUSTER_ID_FILE [$KAFKA_STATE_DIR/cluster.id]  shared by every node of a cluster
#   KAFKA_REPLICATION_FACTOR [1] / KAFKA_MIN_INSYNC_REPLICAS [1]
#   KAFKA_DEFAULT_PARTITIONS [6]      num.partitions
#   KAFKA_HEAP_OPTS [-Xms256m -Xmx768m]
#   KAFKA_JVM_PERFORMANCE_OPTS        replaces the GC/JIT flags below
#   KAFKA_OPTS                        extra JVM flags appended last
#   KAFKA_JMX_EXPORTER_HOST [127.0.0.1] / KAFKA_JMX_EXPORTER_PORT [9404]
#                                     where the Prometheus JMX exporter agent serves the
#                                     broker's metrics (rules: infra/kafka/jmx-exporter.yml);
#                                     an empty port runs the broker without the agent
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${KAFKA_STATE_DIR:-$ROOT/var/kafka}"
[[ "$STATE" = /* ]] || STATE="$ROOT/$STATE"
LIBS="$ROOT/var/kafka/libs"
TMPL="$ROOT/infra/kafka/server.properties.tmpl"
PROPS="$STATE/server.properties"
LOG4J="$ROOT/infra/kafka/log4j2.yaml"
JMX_AGENT="$LIBS/agent/jmx_prometheus_javaagent.jar"
JMX_RULES="$ROOT/infra/kafka/jmx-exporter.yml"
CLUSTER_ID_FILE="${KAFKA_CLUSTER_ID_FILE:-$STATE/cluster.id}"
[[ "$CLUSTER_ID_FILE" = /* ]] || CLUSTER_ID_FILE="$ROOT/$CLUSTER_ID_FILE"

export KAFKA_HOST="${KAFKA_HOST:-127.0.0.1}"
export KAFKA_PORT="${KAFKA_PORT:-9092}"
export KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
export KAFKA_ADVERTISED_HOST="${KAFKA_ADVERTISED_HOST:-localhost}"
export KAFKA_DEFAULT_PARTITIONS="${KAFKA_DEFAULT_PARTITIONS:-6}"
export KAFKA_NODE_ID="${KAFKA_NODE_ID:-1}"
export KAFKA_REPLICATION_FACTOR="${KAFKA_REPLICATION_FACTOR:-1}"
export KAFKA_MIN_INSYNC_REPLICAS="${KAFKA_MIN_INSYNC_REPLICAS:-1}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$STATE/data}"
[[ "$KAFKA_DATA_DIR" = /* ]] || KAFKA_DATA_DIR="$ROOT/$KAFKA_DATA_DIR"
export KAFKA_DATA_DIR
# The controller quorum address must be dialable: a wildcard bind becomes loopback.
case "$KAFKA_HOST" in
  0.0.0.0 | :: | "[::]") KAFKA_CONTROLLER_ADVERTISED_HOST=127.0.0.1 ;;
  *) KAFKA_CONTROLLER_ADVERTISED_HOST="$KAFKA_HOST" ;;
esac
export KAFKA_CONTROLLER_ADVERTISED_HOST
if [[ -n "${KAFKA_CONTROLLER_QUORUM_VOTERS:-}" ]]; then
  export KAFKA_QUORUM_SETTING="controller.quorum.voters=$KAFKA_CONTROLLER_QUORUM_VOTERS"
  FORMAT_MODE=()
else
  export KAFKA_QUORUM_SETTING="controller.quorum.bootstrap.servers=$KAFKA_CONTROLLER_ADVERTISED_HOST:$KAFKA_CONTROLLER_PORT"
  FORMAT_MODE=(--standalone)
fi

# Jars (no-op when var/kafka/libs matches infra/kafka/pom.xml).
"$ROOT/infra/bin/install-kafka.sh"

mkdir -p "$STATE" "$KAFKA_DATA_DIR"

# Render the config; substitute only our own names.
envsubst '${KAFKA_HOST} ${KAFKA_PORT} ${KAFKA_CONTROLLER_PORT} ${KAFKA_ADVERTISED_HOST} ${KAFKA_CONTROLLER_ADVERTISED_HOST} ${KAFKA_DATA_DIR} ${KAFKA_DEFAULT_PARTITIONS} ${KAFKA_NODE_ID} ${KAFKA_QUORUM_SETTING} ${KAFKA_REPLICATION_FACTOR} ${KAFKA_MIN_INSYNC_REPLICAS}' \
  <"$TMPL" >"$PROPS.tmp"
mv "$PROPS.tmp" "$PROPS"

CP="$LIBS/*"
LOG_OPTS=(-Dlog4j2.configurationFile="$LOG4J")

# Format the storage once: only when the data dir has no meta.properties.
if [[ ! -f "$KAFKA_DATA_DIR/meta.properties" ]]; then
  if [[ ! -s "$CLUSTER_ID_FILE" ]]; then
    java "${LOG_OPTS[@]}" -cp "$CP" kafka.tools.StorageTool random-uuid >"$CLUSTER_ID_FILE.tmp"
    mv "$CLUSTER_ID_FILE.tmp" "$CLUSTER_ID_FILE"
  fi
  cluster_id="$(tr -d '[:space:]' <"$CLUSTER_ID_FILE")"
  echo "kafka: formatting $KAFKA_DATA_DIR (cluster id $cluster_id)"
  java "${LOG_OPTS[@]}" -cp "$CP" kafka.tools.StorageTool format \
    --config "$PROPS" --cluster-id "$cluster_id" "${FORMAT_MODE[@]}"
else
  echo "kafka: reusing formatted storage in $KAFKA_DATA_DIR"
fi

read -r -a HEAP_OPTS <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
read -r -a PERF_OPTS <<<"${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -XX:ParallelGCThreads=2 -XX:ConcGCThreads=1 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}"
read -r -a EXTRA_OPTS <<<"${KAFKA_OPTS:-}"
# The JMX exporter runs inside the broker's JVM (a java agent), on the broker's start only:
# the storage tool above must not bind its port.
AGENT_OPTS=()
if [[ -n "${KAFKA_JMX_EXPORTER_PORT-9404}" ]]; then
  AGENT_OPTS=("-javaagent:$JMX_AGENT=${KAFKA_JMX_EXPORTER_HOST:-127.0.0.1}:${KAFKA_JMX_EXPORTER_PORT-9404}:$JMX_RULES")
fi

echo "kafka: starting broker on $KAFKA_HOST:$KAFKA_PORT (controller $KAFKA_HOST:$KAFKA_CONTROLLER_PORT, config $PROPS)"
exec java "${HEAP_OPTS[@]}" "${PERF_OPTS[@]}" "${LOG_OPTS[@]}" "${AGENT_OPTS[@]}" "${EXTRA_OPTS[@]}" \
  -cp "$CP" kafka.Kafka "$PROPS"
