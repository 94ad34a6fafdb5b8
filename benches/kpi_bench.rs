//! Benchmark runner in the style of DataFusion's `benchmarks/` runner: it generates
//! synthetic exports (or reuses them), then runs the real `cwkpi` binary as a child
//! process several times per case, process start included, and reports the median wall
//! time, the child's peak RSS (from `wait4`) and input rows per second.
//!
//!     cargo bench --bench kpi_bench -- [options]
//!
//! Options (see `--help`): --data DIR (default $CWKPI_BENCH_DATA, else
//! $HOME/.cache/cwkpi-bench), --scales 1,10,100, --orders by-year,sorted,random, --runs N,
//! --only kpi,kpi-core,trend,nightly,spill,duckdb, --cwkpi PATH (default: the binary cargo built beside this runner), --write-readme FILE.
//!
//! `duckdb` runs `benches/duckdb/compare.py` at scale 100 on the by-year and random
//! exports: the five core KPIs in DuckDB on the same files, checked row for row against
//! `cwkpi kpi --kpi core`, both timed, the ratio printed (needs Python's `duckdb` package).
//!
//! The results go to stdout as a markdown table and, with --write-readme, replace the
//! part of that file between the `<!-- results:begin -->` and `<!-- results:end -->` lines.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const AS_OF: &str = "2026-11-22";
const SEED: u64 = 1;
const BEGIN: &str = "<!-- results:begin -->";
const END: &str = "<!-- results:end -->";

struct Options {
    data: PathBuf,
    scales: Vec<u32>,
    /// `cwkpi gen --order` layouts: the first is the one every case runs on; the others
    /// repeat the KPI, trend and nightly cases, so the table shows the orders side by side.
    orders: Vec<String>,
    runs: usize,
    only: Vec<String>,
    cwkpi: PathBuf,
    spill_limit: String,
    write_readme: Option<PathBuf>,
}

fn usage() -> String {
    "usage: kpi_bench [--data DIR] [--scales 1,10,100] [--orders by-year,sorted,random] [--runs N] [--only kpi,kpi-core,trend,nightly,spill,duckdb] \
     [--spill-limit 1700M] [--cwkpi PATH] [--write-readme FILE]"
        .to_string()
}

fn parse_options() -> Result<Options, String> {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let mut options = Options {
        data: std::env::var_os("CWKPI_BENCH_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".cache/cwkpi-bench")),
        scales: vec![1, 10, 100],
        orders: vec!["by-year".into(), "sorted".into(), "random".into()],
        runs: 5,
        only: ["kpi", "kpi-core", "trend", "nightly", "spill", "duckdb"].map(String::from).to_vec(),
        cwkpi: option_env!("CARGO_BIN_EXE_cwkpi").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("cwkpi")),
        spill_limit: "1700M".into(),
        write_readme: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        // `cargo bench` passes --bench to every bench target; it means nothing here.
        if arg == "--bench" {
            continue;
        }
        if arg == "--help" || arg == "-h" {
            return Err(usage());
        }
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value\n{}", usage()));
        match arg.as_str() {
            "--data" => options.data = PathBuf::from(value()?),
            "--scales" => {
                options.scales = value()?
                    .split(',')
                    .map(|s| s.trim().parse::<u32>().map_err(|_| format!("--scales: \"{s}\" is not a whole number")))
                    .collect::<Result<_, _>>()?
            }
            "--orders" => {
                options.orders = value()?.split(',').map(|s| s.trim().to_string()).collect();
                if let Some(bad) =
                    options.orders.iter().find(|o| !["by-year", "sorted", "random"].contains(&o.as_str()))
                {
                    return Err(format!("--orders: \"{bad}\" is not by-year, sorted or random"));
                }
            }
            "--runs" => {
                options.runs = value()?.parse().ok().filter(|&n| n > 0).ok_or("--runs needs a number above 0")?;
            }
            "--only" => options.only = value()?.split(',').map(|s| s.trim().to_string()).collect(),
            "--cwkpi" => options.cwkpi = PathBuf::from(value()?),
            "--spill-limit" => options.spill_limit = value()?,
            "--write-readme" => options.write_readme = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown option {other}\n{}", usage())),
        }
    }
    Ok(options)
}

/// One child process run: wall time and what the kernel says about its resources.
struct Measurement {
    wall: Duration,
    cpu: Duration,
    peak_rss_bytes: u64,
}

/// Runs `cwkpi args…` to completion; stdout and stderr go to files so a large output
/// cannot block the child.
fn run_once(cwkpi: &Path, args: &[String], scratch: &Path) -> Result<Measurement, String> {
    let stdout = File::create(scratch.join("stdout")).map_err(|e| format!("cannot create scratch file: {e}"))?;
    let stderr_path = scratch.join("stderr");
    let stderr = File::create(&stderr_path).map_err(|e| format!("cannot create scratch file: {e}"))?;
    let started = Instant::now();
    let child = Command::new(cwkpi)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", cwkpi.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4, not Child::wait: it also returns the child's own peak RSS and CPU time.
    // SAFETY: pid is our own child, not yet reaped; status and usage are valid pointers.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if reaped != pid {
        return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        let code =
            if libc::WIFEXITED(status) { format!("exit {}", libc::WEXITSTATUS(status)) } else { "killed".into() };
        return Err(format!("{code}: {last}"));
    }
    let seconds = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Ok(Measurement {
        wall,
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        // Linux reports ru_maxrss in KiB.
        peak_rss_bytes: usage.ru_maxrss as u64 * 1024,
    })
}

/// The rows of every Parquet file of an export folder (and of its tables' folders, one
/// file per year), from the file footers.
fn export_rows(dir: &Path) -> Result<u64, String> {
    let mut rows = 0u64;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rows += export_rows(&path)?;
        } else if path.extension().is_some_and(|e| e == "parquet") {
            let file = File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            let reader = datafusion::parquet::file::reader::SerializedFileReader::new(file)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            use datafusion::parquet::file::reader::FileReader;
            rows += reader.metadata().file_metadata().num_rows() as u64;
        }
    }
    Ok(rows)
}

/// The export of a scale in one order: reused when present, else generated with `cwkpi gen`.
fn export_for(options: &Options, scale: u32, order: &str) -> Result<PathBuf, String> {
    let dir = options.data.join(format!("scale-{scale}-seed-{SEED}-{order}"));
    if dir.join("manifest.json").is_file() {
        return Ok(dir);
    }
    eprintln!("generating {} …", dir.display());
    std::fs::create_dir_all(&options.data).map_err(|e| format!("cannot create {}: {e}", options.data.display()))?;
    let status = Command::new(&options.cwkpi)
        .args([
            "gen",
            "--scale",
            &scale.to_string(),
            "--seed",
            &SEED.to_string(),
            "--as-of",
            AS_OF,
            "--order",
            order,
            "--out",
        ])
        .arg(&dir)
        .status()
        .map_err(|e| format!("cannot start {}: {e}", options.cwkpi.display()))?;
    if !status.success() {
        return Err(format!("cwkpi gen --scale {scale} failed ({status})"));
    }
    Ok(dir)
}

struct Case {
    name: &'static str,
    scale: u32,
    order: String,
    /// The arguments after `cwkpi`; `{out}` is replaced by a fresh folder for each run.
    args: Vec<String>,
    target: Option<Target>,
}

#[derive(Clone, Copy)]
struct Target {
    wall_seconds: f64,
    peak_rss_gb: Option<f64>,
}

struct Row {
    case: Case,
    rows: u64,
    result: Result<Vec<Measurement>, String>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

/// The cases at one scale and order. The first order runs them all; the others the KPI,
/// trend and nightly cases, for the comparison of orders.
fn cases(options: &Options, scale: u32, order: &str, dir: &Path) -> Vec<Case> {
    let first_order = options.orders.first().is_some_and(|o| o == order);
    let exports = dir.display().to_string();
    let order = order.to_string();
    let kpi = |extra: &[&str]| {
        let mut args: Vec<String> =
            ["kpi", "--exports", &exports, "--as-of", AS_OF, "--format", "csv"].map(String::from).to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let wanted = |what: &str| options.only.iter().any(|o| o == what);
    let mut cases = Vec::new();
    if wanted("kpi") {
        let target = match scale {
            1 => Some(Target { wall_seconds: 0.3, peak_rss_gb: None }),
            100 => Some(Target { wall_seconds: 2.0, peak_rss_gb: Some(1.0) }),
            _ => None,
        };
        cases.push(Case { name: "KPIs, one as-of date", scale, order: order.clone(), args: kpi(&[]), target });
    }
    if wanted("kpi-core") && scale == 100 && first_order {
        // The five core KPIs alone (`--kpi core`, the further tables unread): the work the
        // DuckDB comparison does, and the yardstick of the further tables' cost.
        cases.push(Case {
            name: "KPIs, one as-of date, `--kpi core`",
            scale,
            order: order.clone(),
            args: kpi(&["--kpi", "core"]),
            target: None,
        });
    }
    if wanted("trend") {
        let target = (scale == 100).then_some(Target { wall_seconds: 5.0, peak_rss_gb: None });
        cases.push(Case {
            name: "12-week trend (13 as-of dates)",
            scale,
            order: order.clone(),
            args: kpi(&["--weeks", "13"]),
            target,
        });
    }
    if wanted("nightly") && scale >= 10 {
        let target = (scale == 100).then_some(Target { wall_seconds: 15.0, peak_rss_gb: Some(2.0) });
        let args = ["nightly", "--exports", &exports, "--out", "{out}"].map(String::from).to_vec();
        cases.push(Case { name: "nightly, end to end", scale, order: order.clone(), args, target });
    }
    if wanted("spill") && scale == 100 && first_order {
        // The core KPIs: with every KPI the postings alone hold 1.2 GB, and at this limit
        // the run stops before reading (exit 2, as documented) rather than computing.
        let limit = options.spill_limit.as_str();
        let spill = options.data.join("spill").display().to_string();
        cases.push(Case {
            name: "KPIs under --memory-limit, `--kpi core`",
            scale,
            order: order.clone(),
            args: kpi(&["--kpi", "core", "--memory-limit", limit, "--spill-dir", &spill]),
            target: None,
        });
    }
    cases
}

fn measure(options: &Options, case: &Case) -> Result<Vec<Measurement>, String> {
    let scratch = std::env::temp_dir().join(format!("cwkpi-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    if let Some(i) = case.args.iter().position(|a| a == "--spill-dir") {
        let spill = &case.args[i + 1];
        std::fs::create_dir_all(spill).map_err(|e| format!("cannot create {spill}: {e}"))?;
    }
    let mut measurements = Vec::with_capacity(options.runs);
    for run in 0..options.runs {
        let out = scratch.join(format!("out-{run}"));
        let _ = std::fs::remove_dir_all(&out);
        // Whatever an earlier run or case left for the kernel to write back is written
        // first: a nightly writes 680 MB at scale 100, and the next run sharing the disk
        // with that write-back ran 30–40 % slower in every step (benches/README.md, "Small
        // workbooks without a thread per sheet").
        // SAFETY: sync takes no arguments and cannot fail.
        unsafe { libc::sync() };
        let args: Vec<String> = case.args.iter().map(|a| a.replace("{out}", &out.display().to_string())).collect();
        let result = run_once(&options.cwkpi, &args, &scratch);
        let _ = std::fs::remove_dir_all(&out);
        measurements.push(result?);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(measurements)
}

fn gib(bytes: u64) -> String {
    let g = bytes as f64 / (1u64 << 30) as f64;
    if g >= 1.0 { format!("{g:.2} GiB") } else { format!("{:.0} MiB", bytes as f64 / (1u64 << 20) as f64) }
}

fn rate(rows: u64, seconds: f64) -> String {
    let r = rows as f64 / seconds;
    if r >= 1e6 { format!("{:.1} M", r / 1e6) } else { format!("{:.0} k", r / 1e3) }
}

fn table(rows: &[Row], runs: usize) -> String {
    let mut text = String::from(
        "| benchmark | scale | order | input rows | wall, median (min–max) | CPU (user+sys) | peak RSS | rows/s | target |\n\
         |---|---:|---|---:|---|---:|---:|---:|---|\n",
    );
    for row in rows {
        let case = &row.case;
        let target = case.target.map(|t| {
            let rss = t.peak_rss_gb.map(|g| format!(", ≤ {g} GB")).unwrap_or_default();
            format!("≤ {} s{rss}", t.wall_seconds)
        });
        match &row.result {
            Ok(ms) => {
                let walls: Vec<f64> = ms.iter().map(|m| m.wall.as_secs_f64()).collect();
                let wall = median(walls.clone());
                let (lo, hi) =
                    (walls.iter().copied().fold(f64::MAX, f64::min), walls.iter().copied().fold(0.0, f64::max));
                let cpu = median(ms.iter().map(|m| m.cpu.as_secs_f64()).collect());
                let rss = ms.iter().map(|m| m.peak_rss_bytes).max().unwrap_or(0);
                let verdict = case.target.map(|t| {
                    let ok = wall <= t.wall_seconds && t.peak_rss_gb.is_none_or(|g| rss as f64 <= g * 1e9);
                    format!("{} {}", target.clone().unwrap_or_default(), if ok { "✅ met" } else { "❌ missed" })
                });
                text.push_str(&format!(
                    "| {} | {} | {} | {} | {wall:.2} s ({lo:.2}–{hi:.2}) | {cpu:.2} s | {} | {} | {} |\n",
                    case.name,
                    case.scale,
                    case.order,
                    row.rows,
                    gib(rss),
                    rate(row.rows, wall),
                    verdict.unwrap_or_default()
                ));
            }
            Err(e) => text.push_str(&format!(
                "| {} | {} | {} | {} | failed: {} | | | | {} |\n",
                case.name,
                case.scale,
                case.order,
                row.rows,
                e.replace('|', "/"),
                target.unwrap_or_default()
            )),
        }
    }
    text.push_str(&format!(
        "\n{runs} runs per row. Commands (`DIR` = the export of that scale, `OUT` = a fresh folder per run, \
         `SPILL` = DATA/spill):\n\n"
    ));
    let mut seen: Vec<String> = Vec::new();
    for row in rows {
        let args = &row.case.args;
        let shown: Vec<String> = args
            .iter()
            .enumerate()
            .map(|(i, a)| match i.checked_sub(1).map(|p| args[p].as_str()) {
                Some("--exports") => "DIR".to_string(),
                Some("--spill-dir") => "SPILL".to_string(),
                _ => a.replace("{out}", "OUT"),
            })
            .collect();
        let line = format!("- {}: `cwkpi {}`", row.case.name, shown.join(" "));
        if !seen.contains(&line) {
            seen.push(line);
        }
    }
    text.push_str(&seen.join("\n"));
    text.push('\n');
    text
}

/// `benches/duckdb/compare.py` on `dir`: its summary in one line, or why it failed.
fn compare_with_duckdb(options: &Options, dir: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/duckdb/compare.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(dir)
        .args(["--as-of", AS_OF, "--runs", &options.runs.to_string(), "--cwkpi"])
        .arg(&options.cwkpi)
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).lines().collect::<Vec<_>>().join("; "),
        Ok(o) => format!("failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
        Err(e) => format!("failed: python3: {e}"),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn write_readme(path: &Path, results: &str) -> Result<(), String> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let section = format!("{BEGIN}\n{results}{END}");
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if b < e => format!("{}{section}{}", &old[..b], &old[e + END.len()..]),
        _ => format!("{old}\n{section}\n"),
    };
    std::fs::write(path, new).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn main() -> std::process::ExitCode {
    let options = match parse_options() {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            return std::process::ExitCode::from(64);
        }
    };
    let command_line = std::env::args().skip(1).filter(|a| a != "--bench").collect::<Vec<_>>().join(" ");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load_before = load_average();
    let mut rows = Vec::new();
    let mut duckdb = String::new();
    for &scale in &options.scales {
        for order in &options.orders {
            let dir = match export_for(&options, scale, order) {
                Ok(dir) => dir,
                Err(e) => {
                    eprintln!("{e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            let input_rows = export_rows(&dir).unwrap_or(0);
            for case in cases(&options, scale, order, &dir) {
                eprintln!("{} at scale {scale}, {order} …", case.name);
                let result = measure(&options, &case);
                if let Err(e) = &result {
                    eprintln!("  failed: {e}");
                }
                // Rows of the folder the case reads (the core-only case reads fewer).
                let case_rows = case
                    .args
                    .iter()
                    .position(|a| a == "--exports")
                    .and_then(|i| export_rows(Path::new(&case.args[i + 1])).ok());
                rows.push(Row { case, rows: case_rows.unwrap_or(input_rows), result });
            }
            if options.only.iter().any(|o| o == "duckdb") && scale == 100 && (order == "by-year" || order == "random") {
                eprintln!("DuckDB beside cwkpi kpi at scale {scale}, {order} …");
                duckdb.push_str(&format!("- scale {scale}, {order}: {}\n", compare_with_duckdb(&options, &dir)));
            }
        }
    }
    let mut results = if rows.is_empty() { String::new() } else { table(&rows, options.runs) };
    if !duckdb.is_empty() {
        results.push_str(&format!(
            "\nThe five core KPIs in DuckDB on the same files (`benches/duckdb/compare.py`, rows checked equal):\n\n{duckdb}"
        ));
    }
    results.push_str(&format!(
        "\nMachine: {cores} cores (`nproc`). Load average before / after: {load_before} / {}. \
         Produced by `cargo bench --bench kpi_bench --{}{}`.\n",
        load_average(),
        if command_line.is_empty() { "" } else { " " },
        command_line
    ));
    print!("{results}");
    if let Some(path) = &options.write_readme
        && let Err(e) = write_readme(path, &results)
    {
        eprintln!("{e}");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
