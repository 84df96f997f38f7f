#!/usr/bin/env bash
# Builds ArgoCD (one static `argocd` binary: CLI, server, repo-server, application-controller,
# applicationset-controller, dispatched on ARGOCD_BINARY_NAME) from the Go module proxy into a
# cache directory outside the repository, keyed by version, plus what the local processes need
# beside it: git-verify-wrapper.sh / gpg-wrapper.sh (the repo-server runs them on every manifest
# generation) and the module's base config manifests (argocd-cm, argocd-cmd-params-cm, ...).
# Also copies the same version's Application/ApplicationSet/AppProject CRDs into $CACHE/crds.
# Idempotent: a binary already built for its pinned version is kept (rerun ~0 s).
# Prints the directory holding the binary on its last line.
#
# Why a wrapper module: argo-cd's go.mod has ~38 `replace` lines (k8s.io/* pins, grpc-gateway,
# ...) that `go install …@version` ignores, and one local-path replace (./gitops-engine) the module
# zip cannot satisfy; a tiny module that copies the replace lines and points gitops-engine at its
# published tag builds the real command unchanged. See ../docs/DEPLOYMENT.md ("ArgoCD").
#
# Cold: ~450-610 CPU-seconds of `go build` (5-8 min on an idle 2-core machine, 12-17 min when the
# cores are shared) + 1-2 min of module and toolchain download. Peak RSS of the build ~2.3 GB.
set -euo pipefail

ARGOCD_VERSION="${PLOY_ARGOCD_VERSION:-v3.6.1}"
# v3.6.x declares `go 1.27.0`; the toolchain comes from the module proxy like any module.
ARGOCD_GOTOOLCHAIN="${PLOY_ARGOCD_GOTOOLCHAIN:-go1.27.3}"

CACHE="${PLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ploy}"
BIN="$CACHE/bin/argocd-${ARGOCD_VERSION}"
W="$CACHE/src/argocd-wrapper-${ARGOCD_VERSION}"
mkdir -p "$BIN" "$CACHE/src"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0
export GOTOOLCHAIN="$ARGOCD_GOTOOLCHAIN"

START=$(date +%s)
STEP=0
TOTAL=4
step() {
  STEP=$((STEP + 1))
  printf '[build-argocd] step %d of %d: %s (elapsed %ds)\n' "$STEP" "$TOTAL" "$1" "$(( $(date +%s) - START ))" >&2
}
built() { [ -x "$BIN/argocd" ] && [ -f "$BIN/.argocd.version" ] && [ "$(cat "$BIN/.argocd.version")" = "$ARGOCD_VERSION" ]; }

# gitops-engine is a nested module of argo-cd: v3.6+ tags it as .../gitops-engine/v3 at the same
# version. (v3.5.x had no tags; build-argocd.sh does not support it.)
case "$ARGOCD_VERSION" in
  v3.6.*|v3.7.*) GE_MOD="github.com/argoproj/argo-cd/gitops-engine/v3"; GE_VER="$ARGOCD_VERSION" ;;
  *) echo "[build-argocd] unsupported version $ARGOCD_VERSION (v3.6.x or later: gitops-engine must be tagged)" >&2; exit 2 ;;
esac

# --- 1. wrapper module: argo-cd's replace lines + the published gitops-engine ---------------------
step "wrapper module for argo-cd ${ARGOCD_VERSION} (toolchain ${ARGOCD_GOTOOLCHAIN})"
if built; then
  echo "[build-argocd]   cached" >&2
elif [ -f "$W/.ready" ]; then
  echo "[build-argocd]   wrapper ready" >&2
else
  mkdir -p "$W"
  (
    cd "$W"
    rm -f go.mod go.sum
    go mod init ploy.local/argocd-wrapper >/dev/null 2>&1
    go mod edit -go=1.27.0
    echo "require github.com/argoproj/argo-cd/v3 ${ARGOCD_VERSION}" >> go.mod
    go mod download -json "github.com/argoproj/argo-cd/v3@${ARGOCD_VERSION}" > /dev/null
    AMOD="$(go env GOMODCACHE)/cache/download/github.com/argoproj/argo-cd/v3/@v/${ARGOCD_VERSION}.mod"
    {
      echo "replace ("
      sed -n '/^replace (/,/^)/p' "$AMOD" | grep -E '=>' | grep -v '=> \./'
      echo ")"
      echo "replace ${GE_MOD} => ${GE_MOD} ${GE_VER}"
    } >> go.mod
    echo "[build-argocd]   wrapper module copies $(grep -c '=>' go.mod) replace lines" >&2
    go get "github.com/argoproj/argo-cd/v3/cmd@${ARGOCD_VERSION}" >/dev/null 2>&1 || go get "github.com/argoproj/argo-cd/v3/cmd@${ARGOCD_VERSION}"
  )
  touch "$W/.ready"
fi

# --- 2. go build ----------------------------------------------------------------------------------
step "go build argocd ${ARGOCD_VERSION}"
if built; then
  echo "[build-argocd]   cached" >&2
else
  P=github.com/argoproj/argo-cd/v3/common
  t0=$(date +%s)
  (cd "$W" && go build -trimpath -ldflags "-s -w -X $P.version=${ARGOCD_VERSION#v} -X $P.gitTag=${ARGOCD_VERSION} \
    -X $P.gitTreeState=clean -X $P.gitCommit=ploy-module-build -X $P.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    -o "$BIN/argocd.tmp" github.com/argoproj/argo-cd/v3/cmd)
  mv "$BIN/argocd.tmp" "$BIN/argocd"
  echo "$ARGOCD_VERSION" > "$BIN/.argocd.version"
  echo "[build-argocd]   built argocd in $(( $(date +%s) - t0 ))s" >&2
fi

# --- 3. helper scripts and base config manifests out of the module --------------------------------
step "git-verify-wrapper.sh, gpg-wrapper.sh, base config manifests and CRDs beside the binary"
ADIR="$(cd "$W" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)"
for f in git-verify-wrapper.sh gpg-wrapper.sh; do
  install -m 0755 "$ADIR/hack/$f" "$BIN/$f"    # module-cache files are read-only (0444)
done
mkdir -p "$BIN/config" "$BIN/crds"
install -m 0644 "$ADIR"/manifests/base/config/argocd-*.yaml "$BIN/config/"
# The CRDs again beside the binary, so the launcher installs exactly its version's CRDs even if the
# shared $CACHE/crds was refreshed by another checkout's scripts.
for f in application-crd.yaml applicationset-crd.yaml appproject-crd.yaml; do
  install -m 0644 "$ADIR/manifests/crds/$f" "$BIN/crds/argocd-$f"
done

# --- 4. CRDs of the same version ------------------------------------------------------------------
step "ArgoCD ${ARGOCD_VERSION} CRDs into $CACHE/crds"
PLOY_ARGOCD_VERSION="$ARGOCD_VERSION" "$(dirname "$0")/fetch-crds.sh" "$CACHE/crds" >&2

echo "[build-argocd] done in $(( $(date +%s) - START ))s" >&2
echo "$BIN"
