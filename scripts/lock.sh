#!/usr/bin/env bash
# Refresh constraints.txt: the resolved, pinned set of every dependency of every extra, which
# `make serve`, `make test` and the Dockerfiles install with (pip install -c constraints.txt).
# pip-tools' pip-compile resolves it from pyproject.toml in a throwaway venv (.venv-lock).
#   scripts/lock.sh             re-resolve, keeping the current pins where they still fit
#   scripts/lock.sh --upgrade   re-resolve to the newest releases the ranges allow
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${LOCK_VENV:-.venv-lock}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/pip-compile" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "pip-tools==7.7.0"
fi
# Every extra that `.[all]` installs, named one by one: the `all` and `bench` extras refer to
# dermcad itself, which would put the checkout's own path into the file.
"$venv/bin/pip-compile" --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
    --extra train --extra distributed --extra dev --extra openvino --extra quantize \
    --output-file constraints.txt "$@" pyproject.toml
