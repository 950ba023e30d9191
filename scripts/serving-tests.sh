#!/usr/bin/env bash
# The serving install alone (what `make serve` installs: no torch) runs the API, web UI and
# `dermcad predict` tests, so that nothing in them needs the training stack unnoticed.
#   DERMCAD_TEST_FIXTURES=DIR scripts/serving-tests.sh [pytest args]
# The tiny test models are made with torch: a full test run with the same DERMCAD_TEST_FIXTURES
# keeps them (and the torch model's reference probabilities) in DIR first; .ci/run does both.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv-serving}
: "${DERMCAD_TEST_FIXTURES:?set it to the folder where a full test run kept its fixtures}"
VENV=$venv scripts/bootstrap.sh
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt \
    pytest hypothesis httpx httpx2 schemathesis playwright
if "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "serving-tests: torch is importable in the serving install ($venv)" >&2
    exit 1
fi
echo "serving-tests: torch is not importable in $venv"
"$venv/bin/python" -m pytest tests/api tests/serving tests/web tests/test_shipped_models.py "$@"
