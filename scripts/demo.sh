#!/usr/bin/env bash
# The main job (`make demo`): builds or reuses the local control plane, installs the operator chart with
# helm, runs the operator as a local process authenticated as the chart's ServiceAccount, applies a
# TradingBot with kubectl and shows the blue-green rollout live, promotes a new version, rolls back one
# whose pods crash-loop, then the GitOps leg: real ArgoCD syncs the app of apps from a local git
# repository and rolls out a committed version; leaves everything running. `bash scripts/demo.sh down` cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "down" ]; then
  bash scripts/bootstrap.sh
  PLOY_K8S_BIN="$(bash scripts/build-control-plane.sh | tail -1)"
  export PLOY_K8S_BIN
  PLOY_ARGOCD_BIN="$(bash scripts/build-argocd.sh | tail -1)"
  export PLOY_ARGOCD_BIN
fi
exec .venv/bin/python scripts/demo.py "$@"
