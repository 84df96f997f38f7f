#!/usr/bin/env bash
# Installs what the project needs on a fresh machine of this kind: uv, the virtualenv with every
# dependency group, Debian's PostgreSQL server, and the real node's runtime packages (containerd, runc,
# CNI plugins, buildah, debootstrap, iptables, conntrack: scripts/ensure-node-packages.sh). Safe to rerun: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[bootstrap] %s\n' "$*" >&2; }
if ! command -v uv >/dev/null 2>&1; then
  log "installing uv from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
log "syncing .venv (uv sync --frozen --all-groups)"
uv sync --frozen --all-groups --quiet
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing PostgreSQL from Debian packages"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql >/dev/null
fi
# redis-server: the cache of the local ArgoCD processes (the `argocd` test tier, the demo's GitOps leg).
if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server from Debian packages"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
# promtool (Debian's prometheus package) checks and unit-tests the charts' alert rules.
bash scripts/ensure-promtool.sh
# The real node (the `node` tier and the demo's real pods): container runtime, CNI, image tools.
bash scripts/ensure-node-packages.sh
