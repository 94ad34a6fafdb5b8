#!/usr/bin/env bash
# Renders a department page of the sample weekly report to docs/screenshots/department.png
# with headless Chromium (Debian package `chromium`).
#
#   scripts/screenshot.sh [UNIT_ID] [WEEK]      defaults: U0005 2026-W47
#
# Environment: CWKPI (binary; default: release build in CARGO_TARGET_DIR or target/),
# WIDTH/HEIGHT (window size in CSS pixels), PDF=1 also prints the page to A4 PDF beside
# the PNG, to check the print layout.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
unit="${1:-U0005}"
week="${2:-2026-W47}"
width="${WIDTH:-1000}"
height="${HEIGHT:-7400}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
cwkpi="${CWKPI:-$target_dir/release/cwkpi}"
sample="$root/fixtures/sample"
shots="$root/docs/screenshots"

browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
    echo "chromium is not installed; on Debian: apt-get update && apt-get install -y chromium" >&2
    exit 1
fi
if [ ! -x "$cwkpi" ]; then
    (cd "$root" && CARGO_TARGET_DIR="$target_dir" cargo build --release)
fi
if [ ! -d "$sample" ]; then
    "$cwkpi" gen --scale 0.03 --seed 7 --as-of 2026-11-22 --out "$sample"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$cwkpi" report --exports "$sample" --week "$week" --out "$work/report"

# The page's file name: the unit id with anything but [A-Za-z0-9_-] escaped, as the report does.
page="$work/report/$unit.html"
if [ ! -f "$page" ]; then
    echo "no page for unit $unit in the report (see $work/report/index.html)" >&2
    exit 1
fi

mkdir -p "$shots"
flags=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
       --disable-sync --no-first-run --hide-scrollbars --user-data-dir="$work/profile")
"$browser" "${flags[@]}" --window-size="$width,$height" --screenshot="$shots/department.png" "file://$page" 2>/dev/null
if [ "${PDF:-0}" = "1" ]; then
    "$browser" "${flags[@]}" --no-pdf-header-footer --print-to-pdf="$shots/department.pdf" "file://$page" 2>/dev/null
fi
echo "wrote $shots/department.png"
