#!/usr/bin/env bash
# `make bench`: every benchmark in bench/ into bench/out/report.json and bench/out/report.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
PLOY_K8S_BIN="$(bash scripts/build-control-plane.sh | tail -1)"
export PLOY_K8S_BIN
# bench/argo_rollouts_side_by_side.py: the Argo Rollouts controller from Go modules (cached by version).
PLOY_ARGO_ROLLOUTS_BIN="$(bash scripts/build-argo-rollouts.sh | tail -1)"
export PLOY_ARGO_ROLLOUTS_BIN
exec .venv/bin/python bench/report.py "$@"
