//! What the server serves: the export, loaded and checked, as one generation at a time.
//! A new generation is loaded beside the current one and swapped in whole; a query holds
//! the generation it started on, so it finishes on the data it began with.
//!
//! Each generation keeps the catalogs its users need, one per grant and set of as-of dates,
//! built at first use and shared by every connection with the same grant and dates (their
//! cached views, `kpi` among them, are computed once).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::NaiveDate;
use tokio::sync::OnceCell;

use crate::catalog::{Catalog, CheckedExport, EngineOptions, Lifetime};
use crate::error::{Error, Result};
use crate::rules::Rules;
use crate::scope::Grant;
use crate::snapshot::Snapshot;

/// Where the data comes from and how it is computed.
#[derive(Debug, Clone)]
pub struct Source {
    pub exports: PathBuf,
    pub rules: Option<PathBuf>,
    /// The default as-of date; without it, the export's manifest date, else yesterday.
    pub as_of: Option<NaiveDate>,
}

/// The files a generation was read from (see `Snapshot`), below the export folder as it
/// resolves (a `latest` link re-pointed is a change), and the rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint(Snapshot);

impl Fingerprint {
    pub fn of(source: &Source) -> Result<Fingerprint> {
        let root = std::fs::canonicalize(&source.exports).map_err(|e| Error::io_path("read", &source.exports, e))?;
        let mut snapshot = Snapshot::of(&root)?.with(root)?;
        if let Some(rules) = &source.rules {
            snapshot = snapshot.with(rules.clone())?;
        }
        Ok(Fingerprint(snapshot))
    }
}

/// One loaded export and the catalogs made from it.
pub struct Generation {
    pub number: u64,
    pub fingerprint: Fingerprint,
    pub default_as_of: NaiveDate,
    export: CheckedExport,
    rules: Rules,
    options: EngineOptions,
    /// Each catalog with when it was last asked for.
    catalogs: Mutex<Catalogs>,
}

/// A grant (its units sorted; empty for every unit) and the as-of dates.
type CatalogKey = (Option<Vec<String>>, Vec<NaiveDate>);

/// At most this many catalogs at dates other than the default are kept per generation, and
/// per grant; the one at the default dates of each grant stays.
const MAX_OTHER_DATE_CATALOGS: usize = 32;
const MAX_OTHER_DATE_CATALOGS_PER_GRANT: usize = 4;

impl Generation {
    /// The catalog for `grant` as of `dates`, built at first use. The catalog of a grant at
    /// the default date is built from the export seen through the grant; other dates start
    /// from it and share its tables.
    pub async fn catalog(&self, grant: &Grant, dates: &[NaiveDate]) -> Result<Arc<Catalog>> {
        let base_dates = [self.default_as_of];
        let base = self.cell(grant, &base_dates);
        let base = base
            .get_or_try_init(|| async {
                let started = Instant::now();
                let export = self.export.scoped(grant)?;
                let rules = crate::scope::scoped_rules(&self.rules, &self.export, grant)?;
                let catalog = Catalog::new(&export, rules, &base_dates, &self.options).await?;
                tracing::debug!(generation = self.number, grant = ?grant_key(grant), seconds = started.elapsed().as_secs_f64(), "catalog built");
                Ok::<_, Error>(Arc::new(catalog))
            })
            .await?
            .clone();
        if dates == base_dates {
            return Ok(base);
        }
        let cell = self.cell(grant, dates);
        Ok(cell.get_or_try_init(|| async { Ok::<_, Error>(Arc::new(base.at_dates(dates).await?)) }).await?.clone())
    }

    fn cell(&self, grant: &Grant, dates: &[NaiveDate]) -> Arc<OnceCell<Arc<Catalog>>> {
        let mut catalogs = self.catalogs.lock().unwrap_or_else(|e| e.into_inner());
        let key = (grant_key(grant), dates.to_vec());
        let now = Instant::now();
        if let Some((cell, used)) = catalogs.get_mut(&key) {
            *used = now;
            return Arc::clone(cell);
        }
        // Catalogs at other dates than the default: at most a few per grant and some in
        // all; the one used longest ago goes first. Connections using it keep their own
        // reference until their session moves on.
        if dates != [self.default_as_of] {
            let other_dates = |k: &CatalogKey| k.1 != [self.default_as_of];
            evict_oldest(&mut catalogs, MAX_OTHER_DATE_CATALOGS_PER_GRANT, |k| other_dates(k) && k.0 == key.0);
            evict_oldest(&mut catalogs, MAX_OTHER_DATE_CATALOGS, other_dates);
        }
        Arc::clone(&catalogs.entry(key).or_insert_with(|| (Arc::default(), now)).0)
    }

    /// Builds the catalog every-unit users start on and computes its `kpi`, so the first
    /// queries after a (re)load do not wait for it.
    async fn warm(&self) -> Result<()> {
        let catalog = self.catalog(&Grant::All, &[self.default_as_of]).await?;
        catalog.query("SELECT count(*) FROM kpi").await?;
        Ok(())
    }
}

type Catalogs = HashMap<CatalogKey, (Arc<OnceCell<Arc<Catalog>>>, Instant)>;

/// Removes the catalog used longest ago among those `counted`, if there are `limit` of them.
fn evict_oldest(catalogs: &mut Catalogs, limit: usize, counted: impl Fn(&CatalogKey) -> bool) {
    let counted: Vec<(&CatalogKey, &Instant)> =
        catalogs.iter().filter(|(k, _)| counted(k)).map(|(k, (_, used))| (k, used)).collect();
    if counted.len() >= limit
        && let Some(oldest) = counted.iter().min_by_key(|(_, used)| **used).map(|(k, _)| (*k).clone())
    {
        catalogs.remove(&oldest);
    }
}

fn grant_key(grant: &Grant) -> Option<Vec<String>> {
    match grant {
        Grant::All => None,
        Grant::Units(units) => {
            let mut units = units.clone();
            units.sort();
            units.dedup();
            Some(units)
        }
    }
}

/// The generation being served, and how to load the next.
pub struct Served {
    pub source: Source,
    options: EngineOptions,
    current: RwLock<Arc<Generation>>,
    numbers: AtomicU64,
    /// The fingerprint of a load that failed: not tried again until the files change.
    failed: Mutex<Option<Fingerprint>>,
}

impl Served {
    /// Loads the first generation; an export that does not load stops the server.
    pub async fn start(source: Source) -> Result<Served> {
        // `kpi`, the view analysts query most, is kept computed per catalog.
        // The catalog's own work (the warm-up) is the server's, not a query's: the memory
        // limit applies to the sessions that run queries.
        let options =
            EngineOptions { cached_views: vec![("kpi".to_string(), Lifetime::AsOfDates)], ..Default::default() };
        let first = load(&source, &options, 1).await?;
        Ok(Served {
            source,
            options,
            current: RwLock::new(Arc::new(first)),
            numbers: AtomicU64::new(1),
            failed: Mutex::new(None),
        })
    }

    pub fn current(&self) -> Arc<Generation> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Loads the export again when its files changed since the current generation (or
    /// always, with `force`) and swaps it in. A load that fails, or whose files changed
    /// while it read them, leaves the current generation serving.
    pub async fn reload(&self, force: bool) -> Result<Option<u64>> {
        let before = Fingerprint::of(&self.source)?;
        let unchanged = before == self.current().fingerprint;
        let failed_before = self.failed.lock().unwrap_or_else(|e| e.into_inner()).as_ref() == Some(&before);
        if !force && (unchanged || failed_before) {
            return Ok(None);
        }
        let number = self.numbers.fetch_add(1, Ordering::SeqCst) + 1;
        let started = Instant::now();
        let next = match load(&self.source, &self.options, number).await {
            Ok(next) => next,
            Err(e) => {
                *self.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(before);
                return Err(e);
            }
        };
        let after = Fingerprint::of(&self.source)?;
        if after != next.fingerprint {
            return Err(Error::Export(format!(
                "{} changed while it was read; it will be read again",
                self.source.exports.display()
            )));
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        *self.failed.lock().unwrap_or_else(|e| e.into_inner()) = None;
        tracing::info!(generation = number, seconds = started.elapsed().as_secs_f64(), "export reloaded");
        Ok(Some(number))
    }
}

/// Reads, checks and warms one generation; the reading and checking run off the async
/// workers, so connections keep being served meanwhile.
async fn load(source: &Source, options: &EngineOptions, number: u64) -> Result<Generation> {
    let started = Instant::now();
    let fingerprint = Fingerprint::of(source)?;
    let (export, rules, default_as_of) = {
        let source = source.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let rules = Rules::load(source.rules.as_deref())?;
            let (as_of, _) = crate::nightly::as_of_or_default(source.as_of, &source.exports)?;
            Ok((CheckedExport::load_with(&source.exports, &[], rules.open_end_sentinel)?, rules, as_of))
        })
        .await
        .map_err(|e| Error::Internal(format!("the loader stopped: {e}")))??
    };
    let generation = Generation {
        number,
        fingerprint,
        default_as_of,
        export,
        rules,
        options: options.clone(),
        catalogs: Mutex::default(),
    };
    generation.warm().await?;
    tracing::info!(generation = number, as_of = %default_as_of, seconds = started.elapsed().as_secs_f64(), "export loaded");
    Ok(generation)
}
