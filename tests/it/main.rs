//! The integration tests, one module per concern, in one test binary: each binary links
//! the whole engine, so one binary is linked once instead of once per concern. The
//! sqllogictest suites stay as `.slt` files under `tests/slt/` (run by `sqllogic`), the
//! golden tables under `tests/golden/` and the client programs under `tests/pg/`.
//!
//! `cargo test --release --test it <filter>` runs a part, e.g. `nightly::faults` or `serve`.

mod common;

mod at_other_dates;
mod cli;
mod differential;
mod docs;
mod export;
mod export_order;
mod import;
mod nightly;
mod report;
mod scope;
mod serve;
mod shell;
mod sqllogic;
