#!/usr/bin/env bash
# Copies the third-party CRDs the tests install (ArgoCD Application/ApplicationSet/AppProject,
# prometheus-operator ServiceMonitor/PodMonitor/PrometheusRule) out of their Go modules at pinned
# versions, downloaded through the Go module proxy into the module cache. Usage: fetch-crds.sh DIR
set -euo pipefail
ARGOCD_VERSION="${PLOY_ARGOCD_VERSION:-v3.6.1}"   # the version scripts/build-argocd.sh builds
PROMOP_VERSION="${PLOY_PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"   # the version scripts/build-prometheus.sh builds
OUT="${1:?usage: fetch-crds.sh DIR}"
mkdir -p "$OUT"
stampfile="$OUT/.versions"
want="argocd=${ARGOCD_VERSION} prometheus-operator=${PROMOP_VERSION}"
if [ -f "$stampfile" ] && [ "$(cat "$stampfile")" = "$want" ]; then
  echo "[fetch-crds] cached in $OUT"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
go mod init ploy.local/crds >/dev/null 2>&1
dir_of() { go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'; }
# argo-cd v3.6 declares `go 1.27.0`: its module is only downloaded under that toolchain (fetched from the
# module proxy once; scripts/build-argocd.sh builds with the same one).
argo="$(GOTOOLCHAIN="${PLOY_ARGOCD_GOTOOLCHAIN:-go1.27.3}" dir_of "github.com/argoproj/argo-cd/v3@${ARGOCD_VERSION}")"
promop="$(dir_of "github.com/prometheus-operator/prometheus-operator@${PROMOP_VERSION}")"
for f in application-crd.yaml applicationset-crd.yaml appproject-crd.yaml; do
  cp "$argo/manifests/crds/$f" "$OUT/argocd-$f"
done
for f in servicemonitors podmonitors prometheusrules; do
  cp "$promop/example/prometheus-operator-crd/monitoring.coreos.com_${f}.yaml" "$OUT/monitoring-${f}.yaml"
done
chmod u+w "$OUT"/*.yaml
echo "$want" > "$stampfile"
echo "[fetch-crds] argocd ${ARGOCD_VERSION}, prometheus-operator ${PROMOP_VERSION} -> $OUT"
