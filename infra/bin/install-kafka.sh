#!/usr/bin/env bash
# Fetch the jars of a single-node Kafka broker and of Kafka's command-line tools from Maven
# Central into var/kafka/libs (repo-relative), using infra/kafka/pom.xml, and the Prometheus
# JMX exporter's java agent into var/kafka/libs/agent (outside the classpath).
# Re-runs Maven only when the libs folder is missing or the pom changed
# (the pom's sha256 is kept in var/kafka/libs/.pom.sha256).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
POM="$ROOT/infra/kafka/pom.xml"
LIBS="$ROOT/var/kafka/libs"
STAMP="$LIBS/.pom.sha256"

want="$(sha256sum "$POM" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"

if [[ -d "$LIBS" && "$want" == "$have" && -f "$LIBS/agent/jmx_prometheus_javaagent.jar" ]] &&
  compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
  echo "kafka: reused $(ls "$LIBS"/*.jar | wc -l) jars in ${LIBS#"$ROOT"/}"
  exit 0
fi

# Build into a temp folder, then swap, so a failed download never leaves a
# half-filled libs folder that a later run would take as good.
tmp="$LIBS.tmp.$$"
log="$(mktemp)"
trap 'rm -rf "$tmp" "$log"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp"
# Maven's output goes to a log shown only on failure (even -q prints ANSI resets).
if ! mvn -B -q -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
  -DincludeScope=runtime \
  -DoutputDirectory="$tmp" \
  dependency:copy@jmx-agent -Dagent.outputDirectory="$tmp/agent" >"$log" 2>&1; then
  cat "$log" >&2
  echo "kafka: jar install FAILED (mvn dependency:copy-dependencies, see above)" >&2
  exit 1
fi
echo "$want" >"$tmp/.pom.sha256"
rm -rf "$LIBS"
mv "$tmp" "$LIBS"
rm -f "$log"
trap - EXIT
echo "kafka: installed $(ls "$LIBS"/*.jar | wc -l) jars into ${LIBS#"$ROOT"/}"
