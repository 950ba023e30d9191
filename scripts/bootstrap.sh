#!/usr/bin/env bash
# Create the virtual environment (if missing) and install dermcad into it, pinned by
# constraints.txt (the resolved dependency set; refresh it with `make lock`).
#   scripts/bootstrap.sh        the serving install: API, web UI, workers, offline predict (no torch)
#   scripts/bootstrap.sh all    everything: training stack (torch 2.14.1), Celery, test tools
# The install is skipped when this venv already holds it for the same pyproject.toml and
# constraints.txt (a stamp file in the venv records their hash); the source is installed editable,
# so code changes need no reinstall.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
extras=${1:-}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
inputs=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
stamp="$venv/.dermcad-install"
name=${extras:-serving}
accepted=("$stamp-$name")
[ -z "$extras" ] && accepted+=("$stamp-all")  # the full install holds the serving one
for done in "${accepted[@]}"; do
    if [ -f "$done" ] && [ "$(cat "$done")" = "$inputs" ]; then
        echo "dermcad: the $name install in $venv is up to date (pyproject.toml, constraints.txt unchanged)"
        exit 0
    fi
done
target="."
[ -n "$extras" ] && target=".[$extras]"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c constraints.txt -e "$target"
echo "$inputs" > "$stamp-$name"
