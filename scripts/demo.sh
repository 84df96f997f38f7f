#!/usr/bin/env bash
# The main job (`make demo`): builds or reuses the local control plane, the real node's binaries, the
# project image (from the Dockerfile) and ArgoCD, starts the control plane with a real node, installs the
# operator chart with helm, runs the operator as a local process authenticated as the chart's
# ServiceAccount, applies a TradingBot with kubectl and shows the blue-green rollout of real bot pods
# live, promotes a new version, rolls back one whose pods cannot reach their database, prints the
# ledger's tokens and orders, then the GitOps leg: real ArgoCD syncs the app of apps from a local git
# repository and rolls out a committed version; leaves everything running. `bash scripts/demo.sh down`
# cleans up. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "down" ]; then
  bash scripts/bootstrap.sh
  PLOY_K8S_BIN="$(bash scripts/build-control-plane.sh | tail -1)"
  export PLOY_K8S_BIN
  bash scripts/build-images.sh >/dev/null
  PLOY_ARGOCD_BIN="$(bash scripts/build-argocd.sh | tail -1)"
  export PLOY_ARGOCD_BIN
fi
exec .venv/bin/python scripts/demo.py "$@"
