"""The five core KPIs in DuckDB beside `cwkpi kpi --kpi core`, on the same export's Parquet files.

    python3 benches/duckdb/compare.py EXPORT_DIR [--as-of 2026-11-22] [--runs 3] [--cwkpi PATH]

First it checks that both give the same rows (unit, KPI, numerator, denominator for every
unit and the five core KPIs), so the times compare equal work; then it runs each side as a
whole process, alternating, `--runs` times, and prints the medians, the peak RSS of each
and the ratio. DuckDB reads the Parquet files directly (core_kpis.sql); the paragraph
rules and rule periods are cwkpi's built-in rules as it expands them for this export,
written to CSV once before the timing. Needs the `duckdb` Python package (pip) and GNU time (`/usr/bin/time`).
"""

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CORE = ["plan_coverage", "plan_on_time", "follow_up_on_time", "investigation_within_limit",
        "investigation_completed_within_limit"]
HERE = Path(__file__).resolve().parent


def source(exports: Path, table: str) -> str:
    path = exports / table
    return f"read_parquet('{path}/*.parquet')" if path.is_dir() else f"read_parquet('{path}.parquet')"


def run_duckdb(exports: Path, as_of: str, rules: Path, params: Path) -> None:
    """The timed DuckDB side: prints unit|kpi|numerator|denominator lines."""
    import duckdb

    text = (HERE / "core_kpis.sql").read_text()
    for table in ["units", "cases", "measures", "action_plans", "follow_ups", "investigations"]:
        text = text.replace("{" + table + "}", source(exports, table))
    text = text.replace("{T}", as_of).replace("{rules}", str(rules)).replace("{params}", str(params))
    for unit, kpi, numerator, denominator in duckdb.sql(text).fetchall():
        print(f"{unit}|{kpi}|{numerator}|{denominator}")


def timed(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes (GNU time's %M) and stdout of a whole process."""
    started = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *command], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {done.stderr}")
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return wall, peak_kib * 1024, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("exports", type=Path)
    parser.add_argument("--as-of", default="2026-11-22")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cwkpi", default=str(Path(os.environ.get("CARGO_TARGET_DIR", HERE.parents[1] / "target")) / "release" / "cwkpi"))
    parser.add_argument("--duckdb-run", nargs=2, metavar=("RULES", "PARAMS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.duckdb_run:
        run_duckdb(args.exports, args.as_of, Path(args.duckdb_run[0]), Path(args.duckdb_run[1]))
        return

    work = Path(tempfile.mkdtemp(prefix="cwkpi-duckdb-"))
    rules, params = work / "rules.csv", work / "params.csv"

    def sql(query: str) -> str:
        return subprocess.run([args.cwkpi, "sql", "--exports", str(args.exports), "--format", "csv", query],
                              check=True, capture_output=True, text=True).stdout

    rules.write_text(sql("SELECT * FROM paragraph_rules"))
    params.write_text(sql("SELECT investigation_limit, follow_up_first, follow_up_every FROM rule_params"))

    duck_cmd = [sys.executable, __file__, str(args.exports), "--as-of", args.as_of, "--duckdb-run", str(rules), str(params)]
    # The same five KPIs on both sides: `--kpi core` (the further tables stay unread).
    cwkpi_cmd = [args.cwkpi, "kpi", "--exports", str(args.exports), "--as-of", args.as_of, "--kpi", "core",
                 "--format", "csv"]
    duck_times, cwkpi_times, duck_peaks, cwkpi_peaks = [], [], [], []
    for _ in range(args.runs):
        wall, peak, out = timed(duck_cmd)
        duck_times.append(wall)
        duck_peaks.append(peak)
        duck_rows = sorted(out.split())
        wall, peak, out = timed(cwkpi_cmd)
        cwkpi_times.append(wall)
        cwkpi_peaks.append(peak)
        cwkpi_rows = sorted(f"{r['unit_id']}|{r['kpi_id']}|{r['numerator']}|{r['denominator']}"
                            for r in csv.DictReader(io.StringIO(out)) if r["kpi_id"] in CORE)
        if duck_rows != cwkpi_rows:
            differ = sorted(set(duck_rows) ^ set(cwkpi_rows))
            sys.exit(f"DuckDB and cwkpi differ in {len(differ)} rows, e.g. {differ[:5]}")
    d, c = statistics.median(duck_times), statistics.median(cwkpi_times)
    print(f"{len(duck_rows)} rows equal; as of {args.as_of}, {args.runs} runs each, whole processes")
    print(f"duckdb: {d:.2f} s ({min(duck_times):.2f}–{max(duck_times):.2f}), peak {max(duck_peaks) / 2**30:.2f} GiB")
    print(f"cwkpi kpi --kpi core: {c:.2f} s ({min(cwkpi_times):.2f}–{max(cwkpi_times):.2f}), peak {max(cwkpi_peaks) / 2**30:.2f} GiB")
    print(f"cwkpi / duckdb: {c / d:.2f}×")


if __name__ == "__main__":
    main()
