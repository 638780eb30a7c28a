#!/usr/bin/env bash
# Make sure Debian's chromium and chromium-driver are installed for the real-browser UI test.
# Idempotent and quick when both are there; never downloads a browser build of its own.
set -euo pipefail

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    exit 0
fi
if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "error: the UI test needs Debian's chromium and chromium-driver: run 'sudo apt-get install -y chromium chromium-driver'" >&2
    exit 1
fi
echo "Installing chromium and chromium-driver from Debian's packages..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
test -x /usr/bin/chromium && test -x /usr/bin/chromedriver
echo "chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}') and chromedriver installed."
