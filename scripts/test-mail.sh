#!/usr/bin/env bash
# Installs what the delivery tests' mail sink needs, when missing: Python's aiosmtpd (PyPI)
# and openssl (Debian), which makes the sink's certificates.
set -euo pipefail
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v openssl >/dev/null; then
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'aiosmtpd>=1.4,<2' 2>&1 \
        | grep -v "Running pip as the 'root' user" || true
fi
python3 -c 'import aiosmtpd'
