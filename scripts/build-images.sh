#!/usr/bin/env bash
# Builds the real node's images without a registry or a Docker daemon, into the cache (never the repo):
#   1. localhost/ploy-pause:<hash>      the pod sandbox image: the pause binary build-control-plane.sh built
#   2. localhost/ploy-py:bookworm-<v>   base image: `debootstrap --variant=minbase bookworm` + python3, pip
#   3. localhost/ploy:<version>-<hash>  the project image, from the Dockerfile UNCHANGED (`buildah bud`);
#      the Dockerfile's digest-pinned FROM is swapped for (2) with --build-context (registry-free)
# Each image is a docker-archive tarball under $CACHE/images, named by the hash of its inputs, so a
# rerun with the same inputs does nothing (~0 s). The last line printed is the index file (JSON:
# {"pause": {"name": ..., "archive": ...}, "base": ..., "bot": ...}) that the real node imports
# into its containerd (ploy_localcluster.node). With `--import ADDRESS` the images
# are also imported into the containerd listening on ADDRESS (namespace k8s.io).
# Needs root (debootstrap, buildah), buildah and debootstrap (scripts/ensure-node-packages.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
CACHE="${PLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ploy}"
IMAGES="$CACHE/images"
K8S_BIN="${PLOY_K8S_BIN:-$CACHE/bin/k8s-${PLOY_K8S_VERSION:-v1.34.4}}"
BASE_RECIPE_VERSION=1          # bump when the base image recipe below changes
mkdir -p "$IMAGES"
IMPORT=""
if [ "${1:-}" = "--import" ]; then IMPORT="${2:?--import needs a containerd address}"; fi

START=$(date +%s)
STEP=0
TOTAL=3
step() {
  STEP=$((STEP + 1))
  printf '[build-images] step %d of %d: %s (elapsed %ds)\n' "$STEP" "$TOTAL" "$1" "$(( $(date +%s) - START ))" >&2
}
log() { printf '[build-images]   %s\n' "$*" >&2; }

BUILDAH_DIR="$CACHE/buildah"
B=(buildah --root "$BUILDAH_DIR/root" --runroot "$BUILDAH_DIR/run" --storage-driver overlay)
# buildah's first RUN creates the containers-common CNI network (cni-podman0, 10.88.0.0/16, CNI-*
# iptables chains). Build steps run with --network=host instead, so no bridge or chain is created.
cleanup() {
  # A failed build can leave working containers (and their overlay mounts) behind.
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  umount "$WORK/rootfs/proc" "$WORK/rootfs/sys" 2>/dev/null || true
  rm -rf "$WORK"
}
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ploy-images.XXXXXX")"
trap cleanup EXIT

# archive NAME TAR: push a buildah image to a docker-archive tarball (atomically: temp file, rename).
archive() {
  rm -f "$2.tmp"
  "${B[@]}" push --quiet "$1" "docker-archive:$2.tmp:$1" >/dev/null
  mv "$2.tmp" "$2"
}

# --- 1. pause image --------------------------------------------------------------------------------
step "pause image"
[ -x "$K8S_BIN/pause" ] || { echo "pause binary missing in $K8S_BIN: run scripts/build-control-plane.sh" >&2; exit 1; }
PAUSE_HASH="$(cat "$K8S_BIN/.pause.version")"
PAUSE_NAME="localhost/ploy-pause:${PAUSE_HASH}"
PAUSE_TAR="$IMAGES/ploy-pause-${PAUSE_HASH}.tar"
if [ ! -f "$PAUSE_TAR" ]; then
  c=$("${B[@]}" from scratch)
  "${B[@]}" copy "$c" "$K8S_BIN/pause" /pause >/dev/null
  "${B[@]}" config --entrypoint '["/pause"]' --user 65535:65535 "$c"
  "${B[@]}" commit --quiet --rm "$c" "$PAUSE_NAME" >/dev/null
  archive "$PAUSE_NAME" "$PAUSE_TAR"
  log "built $PAUSE_NAME"
else
  log "cached $PAUSE_NAME"
fi

# --- 2. base image: Debian bookworm minbase + python3 ---------------------------------------------
step "base image (debootstrap bookworm + python3)"
BASE_NAME="localhost/ploy-py:bookworm-${BASE_RECIPE_VERSION}"
BASE_TAR="$IMAGES/ploy-py-bookworm-${BASE_RECIPE_VERSION}.tar"
if [ ! -f "$BASE_TAR" ]; then
  # The mirror this machine's apt uses (deb822 or one-line sources), else deb.debian.org.
  MIRROR="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)"
  [ -n "$MIRROR" ] || MIRROR="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -1 || true)"
  MIRROR="${MIRROR:-http://deb.debian.org/debian}"
  t0=$(date +%s)
  debootstrap --variant=minbase --include=python3,python3-pip,python-is-python3,ca-certificates \
    bookworm "$WORK/rootfs" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
  log "debootstrap from $MIRROR in $(( $(date +%s) - t0 ))s"
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"* "$WORK/rootfs/etc/hostname"
  c=$("${B[@]}" from scratch)
  m=$("${B[@]}" mount "$c")
  cp -a "$WORK/rootfs/." "$m/"
  "${B[@]}" umount "$c" >/dev/null
  "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env PIP_BREAK_SYSTEM_PACKAGES=1 --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --env LANG=C.UTF-8 --cmd '["python3"]' "$c"
  "${B[@]}" commit --quiet --rm "$c" "$BASE_NAME" >/dev/null
  archive "$BASE_NAME" "$BASE_TAR"
  log "built $BASE_NAME"
else
  log "cached $BASE_NAME"
fi

# --- 3. the project image from the Dockerfile, unchanged ------------------------------------------
step "project image (buildah bud Dockerfile)"
VERSION="$(sed -nE 's/^version = "([^"]+)"/\1/p' pyproject.toml | head -1)"
# Inputs: what the Dockerfile copies (tracked and untracked files, minus caches), the Dockerfile,
# this script and the base image. Same inputs, same tag.
INPUT_HASH="$(
  {
    printf '%s\n' "$BASE_NAME" "$(sha256sum scripts/build-images.sh)"
    find Dockerfile .dockerignore pyproject.toml uv.lock README.md bot operator -type f \
      -not -path '*/__pycache__/*' -not -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-12
)"
BOT_NAME="localhost/ploy:${VERSION}-${INPUT_HASH}"
BOT_TAR="$IMAGES/ploy-${VERSION}-${INPUT_HASH}.tar"
if [ ! -f "$BOT_TAR" ]; then
  "${B[@]}" images --quiet "$BASE_NAME" >/dev/null 2>&1 || "${B[@]}" pull --quiet "docker-archive:$BASE_TAR" >/dev/null
  FROM_LINE="$(sed -nE 's/^FROM ([^ ]+).*/\1/p' Dockerfile | head -1)"
  CA_MOUNT=()
  # A TLS-intercepting egress proxy's CA lives only in the host bundle: RUN steps (pip, uv) need it.
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    CA_MOUNT=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  fi
  t0=$(date +%s)
  "${B[@]}" bud --quiet --layers --pull=never --network=host --format=oci \
    --build-context "${FROM_LINE}=docker-image://${BASE_NAME}" "${CA_MOUNT[@]}" \
    -f Dockerfile -t "$BOT_NAME" "$REPO" > "$WORK/bud.log" 2>&1 || { tail -30 "$WORK/bud.log" >&2; exit 1; }
  log "buildah bud in $(( $(date +%s) - t0 ))s"
  archive "$BOT_NAME" "$BOT_TAR"
  log "built $BOT_NAME ($(( $(stat -c %s "$BOT_TAR") / 1048576 )) MiB archive)"
  # Older builds of the project image: keep the archive cache and buildah's storage small.
  find "$IMAGES" -maxdepth 1 -name 'ploy-*-*.tar' -not -name "$(basename "$BOT_TAR")" \
    -not -name 'ploy-pause-*' -not -name 'ploy-py-*' -delete
  "${B[@]}" images --format '{{.Name}}:{{.Tag}}' | grep '^localhost/ploy:' | grep -vx "$BOT_NAME" \
    | xargs -r "${B[@]}" rmi >/dev/null 2>&1 || true
  # Each source change leaves ~200 MB of build-cache layers; past 4 GiB drop them all (the next build
  # then redoes its dependency layer, ~30 s more).
  if [ "$(du -sm "$BUILDAH_DIR" | cut -f1)" -gt 4096 ]; then
    "${B[@]}" rmi --prune >/dev/null 2>&1 || true
    log "pruned buildah's build cache"
  fi
else
  log "cached $BOT_NAME"
fi

INDEX="$IMAGES/index.json"
cat > "$INDEX.tmp" <<EOF
{"pause": {"name": "$PAUSE_NAME", "archive": "$PAUSE_TAR"},
 "base": {"name": "$BASE_NAME", "archive": "$BASE_TAR"},
 "bot": {"name": "$BOT_NAME", "archive": "$BOT_TAR", "version": "$VERSION"}}
EOF
mv "$INDEX.tmp" "$INDEX"

if [ -n "$IMPORT" ]; then
  for tar in "$PAUSE_TAR" "$BASE_TAR" "$BOT_TAR"; do
    ctr --address "$IMPORT" -n k8s.io images import --no-unpack "$tar" >/dev/null
  done
  log "imported into $IMPORT"
fi
echo "[build-images] done in $(( $(date +%s) - START ))s" >&2
echo "$INDEX"
