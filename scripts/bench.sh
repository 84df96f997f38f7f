#!/usr/bin/env bash
# `make bench`: every benchmark in bench/ into bench/out/report.json and bench/out/report.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
PLOY_K8S_BIN="$(bash scripts/build-control-plane.sh | tail -1)"
export PLOY_K8S_BIN
exec .venv/bin/python bench/report.py "$@"
