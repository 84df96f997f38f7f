#!/usr/bin/env bash
# Builds the Argo Rollouts controller (`rollouts-controller`) from the Go module proxy into a cache
# directory outside the repository, keyed by version, with the same version's CRDs beside it
# (manifests/crds of the module zip). Only bench/argo_rollouts_side_by_side.py uses it (`make bench`),
# never `make test`. Idempotent: a binary already built for its pinned version is kept (rerun ~0 s).
# Prints the directory holding the binary on its last line.
#
# Why a wrapper module: argo-rollouts' go.mod has 34 `replace` lines (k8s.io/* => v0.34.1,
# k8s.io/legacy-cloud-providers => v0.30.14, a pinned go-check/check, the OvyFlash fork of
# telegram-bot-api/v5) that `go install …@version` ignores; none is a local path, so a tiny module
# that copies them builds the real command unchanged (as scripts/build-argocd.sh does for ArgoCD).
#
# Cold (empty module and build caches, shared 2-core machine at load 5-9): 266 s wall (33 s module and
# toolchain download, 233 s go build), 293 CPU-seconds, peak RSS 1.3 GB; 1.6 GB module cache, 1.6 GB
# build cache. With the k8s.io packages already in the build cache from other builds: 173 s.
set -euo pipefail

AR_VERSION="${PLOY_ARGO_ROLLOUTS_VERSION:-v1.9.3}"
# v1.9.3 declares `go 1.26.10`; the toolchain comes from the module proxy like any module.
AR_GOTOOLCHAIN="${PLOY_ARGO_ROLLOUTS_GOTOOLCHAIN:-go1.27.3}"
MOD=github.com/argoproj/argo-rollouts

CACHE="${PLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ploy}"
BIN="$CACHE/bin/argo-rollouts-${AR_VERSION}"
W="$CACHE/src/argo-rollouts-wrapper-${AR_VERSION}"
mkdir -p "$BIN" "$CACHE/src"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0
export GOTOOLCHAIN="$AR_GOTOOLCHAIN"

START=$(date +%s)
STEP=0
TOTAL=3
step() {
  STEP=$((STEP + 1))
  printf '[build-argo-rollouts] step %d of %d: %s (elapsed %ds)\n' "$STEP" "$TOTAL" "$1" "$(( $(date +%s) - START ))" >&2
}
built() {
  [ -x "$BIN/rollouts-controller" ] && [ -f "$BIN/.version" ] && [ "$(cat "$BIN/.version")" = "$AR_VERSION" ]
}

# --- 1. wrapper module: argo-rollouts' replace lines ----------------------------------------------
step "wrapper module for argo-rollouts ${AR_VERSION} (toolchain ${AR_GOTOOLCHAIN})"
if built; then
  echo "[build-argo-rollouts]   cached" >&2
elif [ -f "$W/.ready" ]; then
  echo "[build-argo-rollouts]   wrapper ready" >&2
else
  mkdir -p "$W"
  (
    cd "$W"
    rm -f go.mod go.sum
    go mod init ploy.local/argo-rollouts-wrapper >/dev/null 2>&1
    go mod edit -go=1.26.10
    echo "require ${MOD} ${AR_VERSION}" >> go.mod
    go mod download -json "${MOD}@${AR_VERSION}" > /dev/null
    AMOD="$(go env GOMODCACHE)/cache/download/${MOD}/@v/${AR_VERSION}.mod"
    # Both forms: the `replace ( ... )` block and single `replace a => b v` lines.
    {
      echo "replace ("
      sed -n '/^replace (/,/^)/p' "$AMOD" | grep -E '=>' | grep -v '=> \.'
      sed -n 's/^replace \([^(].*=>.*\)$/\1/p' "$AMOD" | grep -v '=> \.'
      echo ")"
    } >> go.mod
    echo "[build-argo-rollouts]   wrapper module copies $(grep -c '=>' go.mod) replace lines" >&2
    go get "${MOD}/cmd/rollouts-controller@${AR_VERSION}" >/dev/null 2>&1 || go get "${MOD}/cmd/rollouts-controller@${AR_VERSION}"
  )
  touch "$W/.ready"
fi

# --- 2. go build ----------------------------------------------------------------------------------
step "go build rollouts-controller ${AR_VERSION}"
if built; then
  echo "[build-argo-rollouts]   cached" >&2
else
  P="${MOD}/utils/version"
  t0=$(date +%s)
  (cd "$W" && go build -trimpath -ldflags "-s -w -X $P.version=${AR_VERSION#v} -X $P.gitTreeState=clean \
    -X $P.gitCommit=ploy-module-build -X $P.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -o "$BIN/rollouts-controller.tmp" "${MOD}/cmd/rollouts-controller")
  mv "$BIN/rollouts-controller.tmp" "$BIN/rollouts-controller"
  echo "$AR_VERSION" > "$BIN/.version"
  echo "[build-argo-rollouts]   built rollouts-controller in $(( $(date +%s) - t0 ))s" >&2
fi

# --- 3. CRDs of the same version beside the binary ------------------------------------------------
step "Rollout CRDs of ${AR_VERSION} beside the binary"
ADIR="$(cd "$W" && go list -m -f '{{.Dir}}' "$MOD")"
mkdir -p "$BIN/crds"
for f in rollout-crd.yaml analysis-run-crd.yaml analysis-template-crd.yaml cluster-analysis-template-crd.yaml experiment-crd.yaml; do
  install -m 0644 "$ADIR/manifests/crds/$f" "$BIN/crds/$f"    # module-cache files are read-only (0444)
done

echo "[build-argo-rollouts] done in $(( $(date +%s) - START ))s" >&2
echo "$BIN"
