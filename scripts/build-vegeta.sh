#!/usr/bin/env bash
# Builds vegeta (constant-rate HTTP load generator, github.com/tsenart/vegeta) from the Go module
# proxy into a cache directory outside the repository, keyed by version. bench/health_ready.py calls
# this; rerun ~0 s once built. Cold: module download + ~30-60 CPU-seconds of `go build`.
# Prints the path of the binary on its last line.
#
# Why vegeta: it sends at a constant rate whether or not earlier requests have answered (open
# loop, a new worker per request when all are busy), so a slow server shows up as latency rather
# than as a lower offered rate, and it reports latency percentiles; Debian's wrk is closed-loop only.
set -euo pipefail

VEGETA_VERSION="${PLOY_VEGETA_VERSION:-v12.13.0}"
CACHE="${PLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ploy}"
BIN="$CACHE/bin/vegeta-${VEGETA_VERSION}"

if [ ! -x "$BIN/vegeta" ]; then
  mkdir -p "$BIN"
  echo "[build-vegeta] go install github.com/tsenart/vegeta/v12@${VEGETA_VERSION}" >&2
  GOBIN="$BIN.tmp" GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0 \
    timeout 900 go install "github.com/tsenart/vegeta/v12@${VEGETA_VERSION}"
  mv "$BIN.tmp/vegeta" "$BIN/vegeta"
  rmdir "$BIN.tmp"
fi
echo "$BIN/vegeta"
