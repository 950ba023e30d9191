#!/usr/bin/env bash
# System packages the test suite uses: Debian's Chromium (browser tests, driven by Playwright with
# executable_path=/usr/bin/chromium; no browser is ever downloaded) and redis-server (the
# distributed task back end). Installs only what is missing; needs root (or sudo) when it does.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-system-deps: need root to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
echo "install-system-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
