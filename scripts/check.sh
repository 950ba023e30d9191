#!/usr/bin/env bash
# Lint, type-check and run the whole test suite (the README's test command runs this via `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
bin="$venv/bin"
"$bin/ruff" check .
"$bin/ruff" format --check .
"$bin/mypy"
"$bin/python" -m pytest "$@"
