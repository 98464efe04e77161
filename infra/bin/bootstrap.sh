#!/usr/bin/env bash
# Installs what the platform needs on a fresh Debian machine of this kind, then the Python
# environment. Safe to run again: every step checks first and does nothing when done.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

apt_missing=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || apt_missing+=(postgresql)
command -v java >/dev/null || apt_missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || apt_missing+=(maven)
command -v envsubst >/dev/null || apt_missing+=(gettext-base)
command -v runuser >/dev/null || apt_missing+=(util-linux)
command -v wrk >/dev/null || apt_missing+=(wrk)  # load generator of bench/gateway_bench.py
{ command -v prometheus && command -v promtool; } >/dev/null || apt_missing+=(prometheus)
# Alerts by mail (Alertmanager) and PostgreSQL's metrics, beside Prometheus (devstack runs both).
{ command -v prometheus-alertmanager && command -v amtool; } >/dev/null ||
  apt_missing+=(prometheus-alertmanager)
command -v prometheus-postgres-exporter >/dev/null || apt_missing+=(prometheus-postgres-exporter)
command -v node >/dev/null || apt_missing+=(nodejs npm)  # builds the web app (web/)
# The browser tests drive Debian's Chromium through its chromedriver (tests/browser/).
command -v chromium >/dev/null || apt_missing+=(chromium)
command -v chromedriver >/dev/null || apt_missing+=(chromium-driver)

if ((${#apt_missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bootstrap: need root to apt-get install ${apt_missing[*]}" >&2
    exit 1
  fi
  echo "bootstrap: installing ${apt_missing[*]} (Debian packages)"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${apt_missing[@]}" >/dev/null
  # Debian starts its own 'main' cluster on 5432 where it can; devstack runs its own server.
  if command -v pg_lsclusters >/dev/null; then
    pg_lsclusters --no-header 2>/dev/null | awk '$4 == "online" {print $1, $2}' |
      while read -r version cluster; do pg_ctlcluster "$version" "$cluster" stop || true; done
  fi
  # Likewise the services these packages start on their own (Prometheus on 9090, Alertmanager
  # on 9093, which is Kafka's controller port here, the exporter on 9187): devstack runs them.
  for service in prometheus prometheus-alertmanager prometheus-postgres-exporter; do
    if [[ " ${apt_missing[*]} " == *" $service "* ]]; then
      if [[ -d /run/systemd/system ]]; then
        systemctl disable --now "$service" >/dev/null 2>&1 || true
      else
        service "$service" stop >/dev/null 2>&1 || true
        update-rc.d "$service" disable >/dev/null 2>&1 || true
      fi
    fi
  done
fi

if ! command -v uv >/dev/null; then
  echo "bootstrap: installing uv (PyPI)"
  python3 -m pip install -q --root-user-action=ignore uv
fi
uv sync --frozen --quiet
echo "bootstrap: python environment ready in .venv"

# The web app: `npm ci` only when web/node_modules is missing or the lock file changed, and a build
# only when its sources changed since the last one (their hash is kept in web/dist/.build-hash),
# so a second `make up` does neither.
web_sources_hash() {
  (cd web && find src public index.html package.json package-lock.json tsconfig.json \
    vite.config.ts -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
    process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null; then
  echo "bootstrap: the web app needs Node.js >= 20.19 (found $(node --version 2>/dev/null ||
    echo none)): not built; the gateway answers / with a page saying so" >&2
else
  lock_hash=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  if [[ "$(cat web/node_modules/.lock-sha256 2>/dev/null)" != "$lock_hash" ]]; then
    echo "bootstrap: installing the web app's dependencies (npm ci)"
    npm --prefix web ci --no-audit --no-fund --loglevel=error >/dev/null
    echo "$lock_hash" >web/node_modules/.lock-sha256
  fi
  sources_hash=$(web_sources_hash)
  if [[ "$(cat web/dist/.build-hash 2>/dev/null)" != "$sources_hash" ]]; then
    echo "bootstrap: building the web app (npm run build)"
    if ! build_output=$(npm --prefix web run build 2>&1); then
      echo "$build_output" >&2
      exit 1
    fi
    echo "$sources_hash" >web/dist/.build-hash
  fi
  echo "bootstrap: web app built in web/dist"
fi
