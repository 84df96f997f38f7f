#!/usr/bin/env bash
# Makes the Debian-packaged tools of the delivery tests available: `promtool` (package prometheus:
# checks and unit-tests the alert rules; the same package's `prometheus` server is started on loopback
# by the analysis-gate tests, tests/support/prometheus.py) and `jq` (runs the ArgoCD
# ignoreDifferences expressions). Installs only what is missing; the prometheus service is not
# started (no init system here). Safe to rerun.
set -euo pipefail
log() { printf '[ensure-promtool] %s\n' "$*" >&2; }
missing=()
# The package also brings /usr/bin/prometheus, which the analysis-gate tests run on loopback.
{ command -v promtool >/dev/null 2>&1 && [ -x /usr/bin/prometheus ]; } || missing+=(prometheus)
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
