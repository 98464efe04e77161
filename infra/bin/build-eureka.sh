#!/usr/bin/env bash
# Build infra/eureka-server/target/eureka-server.jar, but only when it is
# missing or older than pom.xml or anything under src/. Runnable from any cwd.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
PROJECT_DIR="$REPO_ROOT/infra/eureka-server"
JAR="$PROJECT_DIR/target/eureka-server.jar"
MVN="${MVN:-mvn}"

needs_build() {
  [[ -f "$JAR" ]] || return 0
  # Any input file newer than the jar means the jar is stale.
  [[ -n "$(find "$PROJECT_DIR/pom.xml" "$PROJECT_DIR/src" -type f -newer "$JAR" -print -quit)" ]]
}

if ! needs_build; then
  echo "eureka-server: reusing up-to-date $JAR"
  exit 0
fi

if ! command -v "$MVN" >/dev/null 2>&1; then
  echo "eureka-server: ERROR: '$MVN' (Apache Maven) not found on PATH; install Maven 3.6+ to build $JAR" >&2
  exit 1
fi

# Once the local repository (~/.m2) is warm this needs no network access.
# Debian's Maven 3.8 emits stray ANSI resets even with -B; strip them (and the
# blank lines they leave) and send any build output to stderr.
(cd "$PROJECT_DIR" && "$MVN" -B -q -DskipTests package) 2>&1 \
  | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' >&2

if [[ ! -f "$JAR" ]]; then
  echo "eureka-server: ERROR: build finished but $JAR was not produced" >&2
  exit 1
fi
echo "eureka-server: built $JAR"
