#!/usr/bin/env bash
# The tests: the clients the SQL endpoint's tests connect with (installed when missing),
# then every test of the crate.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-clients.sh
cargo test --release --locked "$@"
