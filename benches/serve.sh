#!/usr/bin/env bash
# The SQL endpoint's figures (benches/README.md, "The SQL endpoint"):
# - start-up (read, check, build and warm the every-unit catalog) and peak memory;
# - connection set-up and a point query on `kpi`, p50/p99, 50 psycopg clients at once;
# - reload (SIGHUP: read, check, warm, swap) and its peak memory, at scale 100.
# usage: benches/serve.sh [SCALE_FOR_CLIENTS (10)] [SCALE_FOR_RELOAD (100)] [SECONDS (20)]
set -euo pipefail
cd "$(dirname "$0")/.."
CWKPI=${CWKPI:-${CARGO_TARGET_DIR:-target}/release/cwkpi}
DATA=${CWKPI_BENCH_DATA:-$HOME/.cache/cwkpi-bench}
CLIENT_SCALE=${1:-10}
RELOAD_SCALE=${2:-100}
SECONDS_=${3:-20}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

export_of() { # the default (by-year) export of a scale, generated once
    local dir=$DATA/scale-$1-seed-1-by-year
    [ -d "$dir" ] || "$CWKPI" gen --scale "$1" --seed 1 --out "$dir" >/dev/null
    echo "$dir"
}
password=bench-password
verifier=$(printf '%s\n' "$password" | "$CWKPI" passwd)
printf '[[user]]\nname = "analyst"\npassword = "%s"\nunits = ["*"]\n' "$verifier" > "$work/users.toml"

start() { # start the server on $1; sets PID, PORT and STARTUP (seconds until it listened)
    local began=$(date +%s%N)
    "$CWKPI" serve --exports "$1" --users "$work/users.toml" --listen 127.0.0.1:0 --as-of 2026-11-22 \
        --max-connections-per-user 50 > "$work/out" 2> "$work/err" &
    PID=$!
    until grep -q listening "$work/out" 2>/dev/null; do
        kill -0 $PID 2>/dev/null || { cat "$work/err"; exit 1; }
        sleep 0.05
    done
    PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/out")
    local ms=$(( ($(date +%s%N) - began) / 1000000 ))
    STARTUP=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
}
peak() { awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' /proc/$1/status; }

dir=$(export_of "$CLIENT_SCALE")
echo "## scale $CLIENT_SCALE ($dir)"
start "$dir"
echo "start-up: $STARTUP s, peak $(peak $PID)"
"$CWKPI" kpi --exports "$dir" --as-of 2026-11-22 --format csv \
    | python3 -c "$(printf '%s\n' 'import csv, json, sys' \
        'rows = {r["unit_id"] + "|" + r["kpi_id"]: [int(r["numerator"]), int(r["denominator"])] for r in csv.DictReader(sys.stdin)}' \
        'print(json.dumps(rows))')" \
    > "$work/expected.json"
python3 tests/pg/clients.py --port "$PORT" --clients 50 --seconds "$SECONDS_" --expected "$work/expected.json" \
    --user analyst --password "$password"
echo "peak after the clients: $(peak $PID); CPU $(ps -o cputime= -p $PID)"
kill $PID; wait $PID 2>/dev/null || true

dir=$(export_of "$RELOAD_SCALE")
echo "## scale $RELOAD_SCALE ($dir)"
start "$dir"
echo "start-up: $STARTUP s, peak $(peak $PID)"
kill -HUP $PID
until grep -q "export reloaded" "$work/err"; do sleep 0.1; done
grep "export reloaded" "$work/err" | sed 's/.*generation/reload: generation/'
echo "peak after the reload: $(peak $PID)"
