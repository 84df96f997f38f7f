#!/usr/bin/env bash
# Static checks: ruff (lint + format), mypy strict (tests too), import-linter contracts.
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
$V/ruff check .
$V/ruff format --check .
$V/mypy
$V/lint-imports
