#!/usr/bin/env bash
# Makes `promtool` (Prometheus's rule checker and rule unit-test runner) available for the alert-rule
# tests in tests/delivery: installs Debian's `prometheus` package when promtool is missing. The
# package's service is not started here (no init system in CI containers; policy-rc.d refuses it).
# Safe to rerun: does nothing when promtool is already on PATH.
set -euo pipefail
log() { printf '[ensure-promtool] %s\n' "$*" >&2; }
if command -v promtool >/dev/null 2>&1; then
  log "promtool present: $(promtool --version 2>&1 | head -1)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
log "installing Debian package prometheus (provides promtool)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: promtool needs none of the exporters the package recommends.
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
log "promtool installed: $(promtool --version 2>&1 | head -1)"
