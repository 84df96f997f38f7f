#!/usr/bin/env bash
# Builds the pinned local Kubernetes control plane (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok, kwokctl, helm) and the real node's kubelet, kube-proxy and
# pause binary (scripts/pause) from the Go module proxy into a cache
# directory outside the repository. Idempotent: a binary already built for its pinned version is
# kept. Prints the directory holding the binaries on its last line.
#
# Why a wrapper module: k8s.io/kubernetes replaces its ~31 staging modules with ./staging paths,
# so `go install k8s.io/kubernetes/cmd/...@v1.x` is refused; a tiny module that requires it and
# replaces each staging module with its published v0.X.Y builds the real commands unchanged.
set -euo pipefail

K8S_VERSION="${PLOY_K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${PLOY_ETCD_VERSION:-v3.6.4}"   # what k8s.io/kubernetes v1.34.x requires
KWOK_VERSION="${PLOY_KWOK_VERSION:-v0.7.0}"
HELM_VERSION="${PLOY_HELM_VERSION:-v3.19.5}"

CACHE="${PLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ploy}"
BIN="$CACHE/bin/k8s-${K8S_VERSION}"
SRC="$CACHE/src"
mkdir -p "$BIN" "$SRC"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0

START=$(date +%s)
STEP=0
TOTAL=7
step() {
  STEP=$((STEP + 1))
  printf '[build-control-plane] step %d of %d: %s (elapsed %ds)\n' "$STEP" "$TOTAL" "$1" "$(( $(date +%s) - START ))" >&2
}
have() { [ -x "$BIN/$1" ] && [ -f "$BIN/.$1.version" ] && [ "$(cat "$BIN/.$1.version")" = "$2" ]; }
stamp() { echo "$2" > "$BIN/.$1.version"; }

# The wrapper module (created once; later steps add their commands to it) and the version ldflags.
W="$SRC/k8s-wrapper-${K8S_VERSION}"
LD=""
k8s_wrapper() {
  W="$SRC/k8s-wrapper-${K8S_VERSION}"
  mkdir -p "$W"
  if [ ! -f "$W/.ready" ]; then
    STAGING_MINOR="v0.${K8S_VERSION#v1.}"
    (
      cd "$W"
      rm -f go.mod go.sum
      go mod init ploy.local/k8s-wrapper >/dev/null 2>&1
      echo "require k8s.io/kubernetes ${K8S_VERSION}" >> go.mod
      go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" > /dev/null
      KMOD="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/${K8S_VERSION}.mod"
      echo "replace (" >> go.mod
      grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$KMOD" | awk -v v="$STAGING_MINOR" '{print "\t" $1 " => " $1 " " v}' >> go.mod
      echo ")" >> go.mod
      echo "[build-control-plane]   wrapper module replaces $(grep -c ' => k8s.io/' go.mod) staging modules with ${STAGING_MINOR}" >&2
      go get "k8s.io/kubernetes/cmd/kube-apiserver@${K8S_VERSION}" >/dev/null 2>&1 || go get "k8s.io/kubernetes/cmd/kube-apiserver@${K8S_VERSION}"
      for c in kube-controller-manager kube-scheduler kubectl; do
        go get "k8s.io/kubernetes/cmd/${c}@${K8S_VERSION}" >/dev/null 2>&1 || go get "k8s.io/kubernetes/cmd/${c}@${K8S_VERSION}"
      done
    )
    touch "$W/.ready"
  fi
  MAJOR=1; MINOR="$(echo "$K8S_VERSION" | cut -d. -f2)"
  BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  LD=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    LD="$LD -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=${MAJOR} -X ${pkg}.gitMinor=${MINOR}"
    LD="$LD -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${BUILD_DATE} -X ${pkg}.gitCommit=ploy-module-build"
  done
}

# --- 1. kubernetes: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl --------------
step "kubernetes ${K8S_VERSION}: kube-apiserver kube-controller-manager kube-scheduler kubectl"
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
need=()
for c in "${K8S_CMDS[@]}"; do have "$c" "$K8S_VERSION" || need+=("$c"); done
if [ "${#need[@]}" -gt 0 ]; then
  k8s_wrapper
  for c in "${need[@]}"; do
    t0=$(date +%s)
    echo "[build-control-plane]   go build ${c} ..." >&2
    (cd "$W" && go build -trimpath -ldflags "-s -w $LD" -o "$BIN/$c" "k8s.io/kubernetes/cmd/$c")
    stamp "$c" "$K8S_VERSION"
    echo "[build-control-plane]   built ${c} in $(( $(date +%s) - t0 ))s" >&2
  done
else
  echo "[build-control-plane]   cached" >&2
fi

# --- 2. etcd --------------------------------------------------------------------------------------
step "etcd ${ETCD_VERSION}"
if ! have etcd "$ETCD_VERSION"; then
  W="$SRC/etcd-wrapper-${ETCD_VERSION}"
  mkdir -p "$W"
  (
    cd "$W"
    rm -f go.mod go.sum
    go mod init ploy.local/etcd-wrapper >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null 2>&1 || go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}"
    go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
  )
  stamp etcd "$ETCD_VERSION"
else
  echo "[build-control-plane]   cached" >&2
fi

# --- 3. kwok + kwokctl ----------------------------------------------------------------------------
step "kwok and kwokctl ${KWOK_VERSION}"
for c in kwok kwokctl; do
  if ! have "$c" "$KWOK_VERSION"; then
    GOBIN="$BIN" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION}" "sigs.k8s.io/kwok/cmd/${c}@${KWOK_VERSION}"
    stamp "$c" "$KWOK_VERSION"
  else
    echo "[build-control-plane]   ${c} cached" >&2
  fi
done

# --- 4. helm --------------------------------------------------------------------------------------
step "helm ${HELM_VERSION}"
if ! have helm "$HELM_VERSION"; then
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  stamp helm "$HELM_VERSION"
else
  echo "[build-control-plane]   cached" >&2
fi

# --- 5. third-party CRDs read from the module cache ----------------------------------------------
step "third-party CRD sources in the Go module cache"
"$(dirname "$0")/fetch-crds.sh" "$CACHE/crds" >&2

# --- 6. the real node: kubelet and kube-proxy, from the same wrapper module -----------------------
step "real node ${K8S_VERSION}: kubelet kube-proxy"
NODE_CMDS=(kubelet kube-proxy)
need=()
for c in "${NODE_CMDS[@]}"; do have "$c" "$K8S_VERSION" || need+=("$c"); done
if [ "${#need[@]}" -gt 0 ]; then
  k8s_wrapper
  if [ ! -f "$W/.node-ready" ]; then
    # Adds a few indirect requirements (hnslib, circbuf, otelrestful, knftables, netns) to the wrapper.
    for c in "${NODE_CMDS[@]}"; do
      (cd "$W" && { go get "k8s.io/kubernetes/cmd/${c}@${K8S_VERSION}" >/dev/null 2>&1 || go get "k8s.io/kubernetes/cmd/${c}@${K8S_VERSION}"; })
    done
    touch "$W/.node-ready"
  fi
  for c in "${need[@]}"; do
    t0=$(date +%s)
    echo "[build-control-plane]   go build ${c} ..." >&2
    (cd "$W" && go build -trimpath -ldflags "-s -w $LD" -o "$BIN/$c" "k8s.io/kubernetes/cmd/$c")
    stamp "$c" "$K8S_VERSION"
    echo "[build-control-plane]   built ${c} in $(( $(date +%s) - t0 ))s" >&2
  done
else
  echo "[build-control-plane]   cached" >&2
fi

# --- 7. pause: the pod sandbox process (no registry.k8s.io here), versioned by its source's hash --
step "pause (scripts/pause/main.go)"
PAUSE_SRC="$(cd "$(dirname "$0")" && pwd)/pause/main.go"
PAUSE_VERSION="$(sha256sum "$PAUSE_SRC" | cut -c1-16)"
if ! have pause "$PAUSE_VERSION"; then
  W_PAUSE="$SRC/pause-${PAUSE_VERSION}"
  mkdir -p "$W_PAUSE"
  cp "$PAUSE_SRC" "$W_PAUSE/main.go"
  (cd "$W_PAUSE" && rm -f go.mod && go mod init ploy.local/pause >/dev/null 2>&1 && go build -trimpath -ldflags "-s -w" -o "$BIN/pause" .)
  stamp pause "$PAUSE_VERSION"
else
  echo "[build-control-plane]   cached" >&2
fi

echo "[build-control-plane] done in $(( $(date +%s) - START ))s" >&2
echo "$BIN"
