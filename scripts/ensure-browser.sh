#!/usr/bin/env bash
# Make sure Debian's chromium and chromium-driver are installed for the real-browser UI test, with
# a Korean font (fonts-nanum) so Korean pages, screenshots and the submission's images show
# Hangul, not empty boxes. Idempotent and quick when all are there; never downloads a browser
# build of its own.
set -euo pipefail

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] && [[ -n "$(fc-list :lang=ko 2>/dev/null)" ]]; then
    exit 0
fi
if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "error: the UI test needs Debian's chromium, chromium-driver and a Korean font: run 'sudo apt-get install -y chromium chromium-driver fonts-nanum'" >&2
    exit 1
fi
echo "Installing chromium and chromium-driver from Debian's packages..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-nanum >/dev/null
test -x /usr/bin/chromium && test -x /usr/bin/chromedriver
echo "chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}') and chromedriver installed."
