#!/usr/bin/env bash
# Installs the clients the tests of `cwkpi serve` use, when missing: psql (Debian package
# postgresql-client) and Python's psycopg (PyPI).
set -euo pipefail
if ! command -v psql >/dev/null; then
    sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null
fi
if ! python3 -c 'import psycopg' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check 'psycopg[binary]>=3.1,<4' 2>&1 | grep -v "Running pip as the 'root' user" || true
    python3 -c 'import psycopg'
fi
