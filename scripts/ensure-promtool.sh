#!/usr/bin/env bash
# Makes the Debian-packaged tools of the delivery tests available: `promtool` (package prometheus:
# checks and unit-tests the alert rules) and `jq` (runs the ArgoCD ignoreDifferences expressions).
# Installs only what is missing; the prometheus service is not started (no init system here, and
# promtool needs no server). Safe to rerun.
set -euo pipefail
log() { printf '[ensure-promtool] %s\n' "$*" >&2; }
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v jq >/dev/null 2>&1 || missing+=(jq)
if [ "${#missing[@]}" -eq 0 ]; then
  log "present: $(promtool --version 2>&1 | head -1); $(jq --version)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
log "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: promtool needs none of the exporters the prometheus package recommends.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
log "installed: $(promtool --version 2>&1 | head -1); $(jq --version)"
