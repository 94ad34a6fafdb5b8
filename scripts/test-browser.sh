#!/usr/bin/env bash
# Installs headless Chromium (Debian package chromium) and the Liberation fonts (Arial's
# metrics, the report's fallback font) for the report's layout tests, when missing.
set -euo pipefail
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -q "Liberation Sans"; then
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium fonts-liberation fontconfig >/dev/null
fi
chromium --version >/dev/null
