#!/usr/bin/env bash
# Create the virtual environment (if missing) and install dermcad into it.
#   scripts/bootstrap.sh        the serving install: API, web UI, workers, offline predict (no torch)
#   scripts/bootstrap.sh all    everything: training stack (torch 2.14.1), Celery, test tools
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
extras=${1:-}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
target="."
[ -n "$extras" ] && target=".[$extras]"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$target"
