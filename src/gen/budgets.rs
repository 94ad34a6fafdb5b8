//! Budgets for every cost centre, set against what it spends: each key (leaf unit,
//! account) gets a yearly budget for the export's year and the year before, near what the
//! key spent the year before, so some units end under their budget and some over it. The
//! cases the budget figures must handle are made on purpose: the first leaf has monthly
//! rows for the export's year, the second a budget for an account it has never posted on
//! (a yearly amount and no postings last year), the third no budget for one of its
//! accounts although it posts on it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Datelike;
use datafusion::arrow::array::{Float64Builder, Int64Builder, StringBuilder};
use rand_chacha::ChaCha8Rng;

use super::days::{Day, date};
use super::organisation::Organisation;
use super::random::uniform;
use super::rows::Columns;

/// An account no measure is paid from: the second leaf's budget for it has no postings.
const UNUSED_ACCOUNT: &str = "5.28.23";

/// What each cost centre spent, per (leaf, account, year, month), in kroner.
#[derive(Default)]
pub(super) struct Spending(BTreeMap<(usize, &'static str, i32, u32), f64>);

impl Spending {
    pub(super) fn add(&mut self, leaf: usize, account: &'static str, posted: Day, amount: f64) {
        if let Some(d) = date(posted) {
            *self.0.entry((leaf, account, d.year(), d.month())).or_default() += amount;
        }
    }

    fn year(&self, leaf: usize, account: &str, year: i32) -> f64 {
        self.0.range((leaf, account, year, 1)..=(leaf, account, year, 12)).map(|(_, v)| v).sum()
    }
}

/// The budget rows for the years `as_of`'s and the one before, in kroner rounded to
/// hundreds (a budget is set in round figures). A key's budget is what it spends in the
/// year (the export's year so far, scaled to twelve months) times a factor: mostly within
/// ±10 %, a few well under (an overrun coming) or well over.
pub(super) fn budgets(org: &Organisation, spending: &Spending, as_of: Day, rng: &mut ChaCha8Rng) -> Columns {
    let today = date(as_of).unwrap_or_default();
    let year = today.year();
    // The months of the export's year the postings cover, as a fraction of twelve.
    let days_in_month = |d: chrono::NaiveDate| {
        let next = d.with_day(1).and_then(|f| f.checked_add_months(chrono::Months::new(1)));
        next.and_then(|n| n.pred_opt()).map_or(30, |last| last.day())
    };
    let elapsed = f64::from(today.month() - 1) + f64::from(today.day()) / f64::from(days_in_month(today));
    let mut rows = BudgetRows::default();
    let accounts: std::collections::BTreeSet<(usize, &'static str)> =
        spending.0.keys().map(|(leaf, account, _, _)| (*leaf, *account)).collect();
    // The third leaf posts on its smallest account without a budget for it.
    let unbudgeted = accounts
        .iter()
        .filter(|(leaf, account)| *leaf == 2 && spending.year(*leaf, account, year) > 0.0)
        .min_by(|a, b| spending.year(a.0, a.1, year).total_cmp(&spending.year(b.0, b.1, year)))
        .copied();
    for (leaf, account) in accounts {
        let factor = match uniform(rng, 0.0, 1.0) {
            x if x < 0.15 => uniform(rng, 0.75, 0.9),
            x if x < 0.85 => uniform(rng, 0.9, 1.1),
            _ => uniform(rng, 1.1, 1.3),
        };
        if Some((leaf, account)) == unbudgeted {
            continue;
        }
        for y in [year - 1, year] {
            let spent = spending.year(leaf, account, y);
            let base = if y == year && elapsed > 0.0 { spent * 12.0 / elapsed } else { spent };
            if base <= 0.0 {
                continue;
            }
            let unit = &org.leaves[leaf].unit_id;
            let last_year = spending.year(leaf, account, y - 1);
            if leaf == 0 && y == year && last_year > 0.0 {
                // Monthly rows: last year's months, scaled to this year's level.
                for month in 1..=12 {
                    let spent: f64 = spending.0.get(&(leaf, account, y - 1, month)).copied().unwrap_or(0.0);
                    rows.push(unit, y, account, Some(month), hundreds(spent.max(0.0) * base / last_year * factor));
                }
            } else {
                rows.push(unit, y, account, None, hundreds(base * factor));
            }
        }
    }
    if let Some(leaf) = org.leaves.get(1) {
        rows.push(&leaf.unit_id, year, UNUSED_ACCOUNT, None, 250_000.0);
    }
    rows.take()
}

fn hundreds(kroner: f64) -> f64 {
    (kroner / 100.0).round() * 100.0
}

#[derive(Default)]
struct BudgetRows {
    unit_id: StringBuilder,
    year: Int64Builder,
    account: StringBuilder,
    month: Int64Builder,
    amount_dkk: Float64Builder,
}

impl BudgetRows {
    fn push(&mut self, unit: &str, year: i32, account: &str, month: Option<u32>, amount: f64) {
        self.unit_id.append_value(unit);
        self.year.append_value(i64::from(year));
        self.account.append_value(account);
        self.month.append_option(month.map(i64::from));
        self.amount_dkk.append_value(amount);
    }

    fn take(&mut self) -> Columns {
        vec![
            ("unit_id", Arc::new(self.unit_id.finish())),
            ("year", Arc::new(self.year.finish())),
            ("account", Arc::new(self.account.finish())),
            ("month", Arc::new(self.month.finish())),
            ("amount_dkk", Arc::new(self.amount_dkk.finish())),
        ]
    }
}
