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
  # Likewise the prometheus package's own service on 9090: devstack runs Prometheus itself.
  if [[ " ${apt_missing[*]} " == *" prometheus "* ]]; then
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now prometheus >/dev/null 2>&1 || true
    else
      service prometheus stop >/dev/null 2>&1 || true
      update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
  fi
fi

if ! command -v uv >/dev/null; then
  echo "bootstrap: installing uv (PyPI)"
  python3 -m pip install -q --root-user-action=ignore uv
fi
uv sync --frozen --quiet
echo "bootstrap: python environment ready in .venv"
