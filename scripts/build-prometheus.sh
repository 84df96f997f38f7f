#!/usr/bin/env bash
# Builds what the `prometheus` test tier runs, from the Go module proxy, into a cache directory outside
# the repository, keyed by version:
#   <cache>/bin/prometheus-operator-<v>/operator   prometheus-operator (cmd/operator), and crds/: the same
#                                                  version's monitoring.coreos.com CRDs
#   <cache>/bin/prometheus-<v>/prometheus          Prometheus (cmd/prometheus; the API, no web UI assets)
#   <cache>/bin/prometheus-<v>/promtool            promtool of the same version (cmd/promtool), which the
#                                                  delivery tests use to check and unit-test the alert rules
# Idempotent: a binary already built for its pinned version is kept (rerun ~0 s). Prints the
# prometheus-operator directory, then the Prometheus directory, one per line, at the end.
#
# Why Prometheus is built although Debian's prometheus package (2.42, scripts/ensure-promtool.sh) is
# installed: Debian strips the Kubernetes service discovery out of it ("field kubernetes_sd_configs not
# found"), and the ServiceMonitors prometheus-operator turns into configuration are kubernetes_sd_configs.
# Why wrapper modules: prometheus-operator's go.mod replaces its nested modules (pkg/apis/monitoring,
# pkg/client) by local paths and Prometheus' go.mod has a replace line; `go install …@version` refuses
# both. A tiny module per command requiring the published modules (and copying Prometheus' one replace
# line) builds the real command unchanged.
#
# prometheus-operator is the version scripts/fetch-crds.sh copies the ServiceMonitor/PrometheusRule CRDs
# from; Prometheus is the version that prometheus-operator's own default (v3.5.0 for v0.85.0), module
# github.com/prometheus/prometheus v0.305.0.
# Cold (shared 2-core machine, Go build cache already holding other k8s builds): prometheus-operator
# ~160 CPU-s / 218 s wall, peak RSS ~1 GB; Prometheus ~260 CPU-s / 577 s wall (load average 8), peak
# RSS ~1.8 GB, 112 MB binary; promtool after it ~10 s (it shares almost every package). Cached rerun: ~0.1 s.
set -euo pipefail

PROMOP_VERSION="${PLOY_PROMETHEUS_OPERATOR_VERSION:-v0.85.0}"
PROM_VERSION="${PLOY_PROMETHEUS_VERSION:-v3.5.0}"
PROM_MODULE_VERSION="${PLOY_PROMETHEUS_MODULE_VERSION:-v0.305.0}"   # Go module version of Prometheus v3.5.0
export GOTOOLCHAIN="${PLOY_PROMETHEUS_GOTOOLCHAIN:-local}"   # both declare go 1.23/1.24; the local one is newer

CACHE="${PLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ploy}"
OP_BIN="$CACHE/bin/prometheus-operator-${PROMOP_VERSION}"
PROM_BIN="$CACHE/bin/prometheus-${PROM_VERSION}"
mkdir -p "$OP_BIN" "$PROM_BIN" "$CACHE/src"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0
OPMOD=github.com/prometheus-operator/prometheus-operator
PROMMOD=github.com/prometheus/prometheus
VPKG=github.com/prometheus/common/version

START=$(date +%s)
STEP=0
TOTAL=6
step() {
  STEP=$((STEP + 1))
  printf '[build-prometheus] step %d of %d: %s (elapsed %ds)\n' "$STEP" "$TOTAL" "$1" "$(( $(date +%s) - START ))" >&2
}
built() { [ -x "$1/$2" ] && [ -f "$1/.version" ] && [ "$(cat "$1/.version")" = "$3" ]; }
# wrapper DIR MODULE PACKAGE VERSION [replace lines...]
wrapper() {
  local dir="$1" module="$2" package="$3" version="$4"
  shift 4
  if [ -f "$dir/.ready" ]; then echo "[build-prometheus]   wrapper ready" >&2; return; fi
  mkdir -p "$dir"
  (
    cd "$dir"
    rm -f go.mod go.sum
    go mod init "ploy.local/$(basename "$dir")" >/dev/null 2>&1
    for line in "$@"; do echo "replace $line" >> go.mod; done
    go get "${package}@${version}" >/dev/null 2>&1 || go get "${package}@${version}"
  )
  touch "$dir/.ready"
}
# gobuild DIR PACKAGE OUT VERSION-STRING
gobuild() {
  local t0
  t0=$(date +%s)
  (cd "$1" && go build -trimpath -ldflags "-s -w -X $VPKG.Version=${4#v} -X $VPKG.Revision=ploy-module-build \
    -X $VPKG.Branch=$4 -X $VPKG.BuildUser=ploy -X $VPKG.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)" -o "$3.tmp" "$2")
  mv "$3.tmp" "$3"
  echo "[build-prometheus]   built $(basename "$3") in $(( $(date +%s) - t0 ))s" >&2
}

# --- prometheus-operator ----------------------------------------------------------------------------
OPW="$CACHE/src/prometheus-operator-wrapper-${PROMOP_VERSION}"
step "wrapper module for ${OPMOD} ${PROMOP_VERSION}"
if built "$OP_BIN" operator "$PROMOP_VERSION"; then echo "[build-prometheus]   cached" >&2
else wrapper "$OPW" "$OPMOD" "$OPMOD/cmd/operator" "$PROMOP_VERSION"; fi
step "go build ${OPMOD}/cmd/operator ${PROMOP_VERSION}"
if built "$OP_BIN" operator "$PROMOP_VERSION"; then echo "[build-prometheus]   cached" >&2
else
  gobuild "$OPW" "$OPMOD/cmd/operator" "$OP_BIN/operator" "$PROMOP_VERSION"
  echo "$PROMOP_VERSION" > "$OP_BIN/.version"
fi
step "prometheus-operator ${PROMOP_VERSION} CRDs into $OP_BIN/crds"
if [ ! -f "$OP_BIN/crds/.version" ] || [ "$(cat "$OP_BIN/crds/.version")" != "$PROMOP_VERSION" ]; then
  wrapper "$OPW" "$OPMOD" "$OPMOD/cmd/operator" "$PROMOP_VERSION"
  PDIR="$(cd "$OPW" && go list -m -f '{{.Dir}}' "$OPMOD")"
  mkdir -p "$OP_BIN/crds"
  # All of them: the operator starts a controller per CRD it finds and watches the others' kinds.
  for f in "$PDIR"/example/prometheus-operator-crd/monitoring.coreos.com_*.yaml; do
    name="$(basename "$f" .yaml)"
    install -m 0644 "$f" "$OP_BIN/crds/monitoring-${name#monitoring.coreos.com_}.yaml"
  done
  echo "$PROMOP_VERSION" > "$OP_BIN/crds/.version"
else
  echo "[build-prometheus]   cached" >&2
fi

# --- Prometheus -----------------------------------------------------------------------------------
PW="$CACHE/src/prometheus-wrapper-${PROM_VERSION}"
prometheus_wrapper() {
  go mod download -json "${PROMMOD}@${PROM_MODULE_VERSION}" > /dev/null
  local pmod
  pmod="$(go env GOMODCACHE)/cache/download/${PROMMOD}/@v/${PROM_MODULE_VERSION}.mod"
  mapfile -t REPLACES < <(grep -E '^replace .*=>' "$pmod" | sed 's/^replace //')
  wrapper "$PW" "$PROMMOD" "$PROMMOD/cmd/prometheus" "$PROM_MODULE_VERSION" "${REPLACES[@]}"
}
step "wrapper module for ${PROMMOD} ${PROM_MODULE_VERSION} (Prometheus ${PROM_VERSION})"
if built "$PROM_BIN" prometheus "$PROM_VERSION" && built "$PROM_BIN" promtool "$PROM_VERSION"; then
  echo "[build-prometheus]   cached" >&2
else
  prometheus_wrapper
fi
step "go build ${PROMMOD}/cmd/prometheus ${PROM_VERSION}"
if built "$PROM_BIN" prometheus "$PROM_VERSION"; then echo "[build-prometheus]   cached" >&2
else
  gobuild "$PW" "$PROMMOD/cmd/prometheus" "$PROM_BIN/prometheus" "$PROM_VERSION"
  echo "$PROM_VERSION" > "$PROM_BIN/.version"
fi
step "go build ${PROMMOD}/cmd/promtool ${PROM_VERSION}"
if built "$PROM_BIN" promtool "$PROM_VERSION"; then echo "[build-prometheus]   cached" >&2
else
  # promtool's own dependencies (pprof, jsondiff) join the wrapper's go.sum; ~10 s after Prometheus.
  (cd "$PW" && { go get "$PROMMOD/cmd/promtool@$PROM_MODULE_VERSION" >/dev/null 2>&1 \
    || go get "$PROMMOD/cmd/promtool@$PROM_MODULE_VERSION"; })
  gobuild "$PW" "$PROMMOD/cmd/promtool" "$PROM_BIN/promtool" "$PROM_VERSION"
fi

echo "[build-prometheus] done in $(( $(date +%s) - START ))s" >&2
echo "$OP_BIN"
echo "$PROM_BIN"
