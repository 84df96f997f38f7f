#!/usr/bin/env bash
# The one test command (`make test`): bootstraps a fresh machine (venv, PostgreSQL, the pinned
# control-plane and real-node binaries, the project image, ArgoCD, prometheus-operator and Prometheus),
# runs the static checks, then the whole pytest suite, with the `db`, `cluster`, `node`, `argocd` and
# `prometheus` tiers executed, not skipped. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash scripts/bootstrap.sh
PLOY_K8S_BIN="$(bash scripts/build-control-plane.sh | tail -1)"
export PLOY_K8S_BIN
PLOY_ARGOCD_BIN="$(bash scripts/build-argocd.sh | tail -1)"
export PLOY_ARGOCD_BIN
# prometheus-operator and Prometheus from Go modules: ~5-10 min cold (shared cores), ~0 s cached.
PROM_DIRS="$(bash scripts/build-prometheus.sh | tail -2)"
PLOY_PROMETHEUS_OPERATOR_BIN="$(head -1 <<<"$PROM_DIRS")"
PLOY_PROMETHEUS_BIN="$(tail -1 <<<"$PROM_DIRS")"
export PLOY_PROMETHEUS_OPERATOR_BIN PLOY_PROMETHEUS_BIN
export PLOY_CRDS_DIR="${PLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ploy}/crds"
# The real node's images (pause, debootstrap base, the Dockerfile's image): ~2 min cold, ~0 s cached.
bash scripts/build-images.sh >/dev/null
export PLOY_REQUIRE_TIERS="${PLOY_REQUIRE_TIERS:-db,cluster,node,argocd,prometheus}"
echo "[test] setup took $(( $(date +%s) - t0 ))s; control plane in $PLOY_K8S_BIN" >&2
bash scripts/lint.sh
.venv/bin/pytest "$@"
