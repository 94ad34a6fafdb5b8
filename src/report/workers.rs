//! The report's files written on every core: each worker takes the next item when done
//! with one, so the order the items come in (largest first) decides how evenly the work
//! falls, not which worker was dealt what.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};

/// Runs `work` on every item of `items`, on as many threads as there are cores (at most
/// one per item), each with a tally of its own that `work` adds to. Returns the tallies,
/// one per worker in worker order; a worker that fails stops taking items, and the first
/// worker's error is returned.
pub(crate) fn deal_out<T: Sync, S: Default + Send>(
    items: &[T],
    what: &str,
    work: impl Fn(&T, &mut S) -> Result<()> + Sync,
) -> Result<Vec<S>> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len()).max(1);
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<S> {
                    let mut tally = S::default();
                    while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
                        work(item, &mut tally)?;
                    }
                    Ok(tally)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::Internal(format!("a {what} thread failed")))))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_is_worked_once() {
        let items: Vec<usize> = (1..=100).collect();
        let tallies = deal_out(&items, "test", |item, sum: &mut usize| {
            *sum += item;
            Ok(())
        })
        .unwrap();
        assert_eq!(tallies.iter().sum::<usize>(), 5050);
        assert!(!tallies.is_empty());
    }

    #[test]
    fn a_failing_item_fails_the_whole() {
        let items: Vec<usize> = (0..10).collect();
        let result = deal_out(
            &items,
            "test",
            |item, _: &mut usize| {
                if *item == 7 { Err(Error::Internal("seven".into())) } else { Ok(()) }
            },
        );
        assert!(matches!(result, Err(Error::Internal(m)) if m == "seven"));
    }
}
