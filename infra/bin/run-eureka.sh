#!/usr/bin/env bash
# Run the Eureka registry in the foreground (a supervisor manages it).
# Env: EUREKA_JAVA_OPTS, plus EUREKA_PORT / EUREKA_HOST / EUREKA_USERNAME / EUREKA_PASSWORD /
# EUREKA_* read by application.yml.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
JAR="$REPO_ROOT/infra/eureka-server/target/eureka-server.jar"

if [[ ! -f "$JAR" ]]; then
  echo "eureka-server: ERROR: $JAR not found; run infra/bin/build-eureka.sh first" >&2
  exit 1
fi

# Run a copy: Maven rewrites the build output in place, and a JVM whose jar changes under it
# fails on the next class it loads. The copy is swapped in by rename, so a running registry keeps
# the file it opened; devstack restarts it when the build changed (EUREKA_BUILD).
RUN_DIR="${DEVSTACK_VAR:-$REPO_ROOT/var}/eureka"
mkdir -p "$RUN_DIR"
cp "$JAR" "$RUN_DIR/eureka-server.jar.$$"
mv -f "$RUN_DIR/eureka-server.jar.$$" "$RUN_DIR/eureka-server.jar"

# Small heap, serial GC and C1-only JIT: 2-core machine, fast start-up.
EUREKA_JAVA_OPTS="${EUREKA_JAVA_OPTS:--Xms128m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k}"

# shellcheck disable=SC2086  # word-splitting of the JVM options is intended
exec java $EUREKA_JAVA_OPTS -jar "$RUN_DIR/eureka-server.jar"
