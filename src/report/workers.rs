//! The report's files written on every core: each worker takes the next item when done
//! with one, so the order the items come in (largest first) decides how evenly the work
//! falls, not which worker was dealt what.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::cores;
use crate::error::{Error, Result};

/// Runs `work` on every item of `items`, on as many threads as there are cores (at most
/// one per item), each with a tally of its own that `work` adds to. Returns the tallies,
/// one per worker in worker order. Once an item fails, no worker takes another (a full
/// disk fails every later file too, and at scale the rest of the pages take minutes), and
/// the first worker's error is returned.
pub(crate) fn deal_out<T: Sync, S: Default + Send>(
    items: &[T],
    what: &str,
    work: impl Fn(&T, &mut S) -> Result<()> + Sync,
) -> Result<Vec<S>> {
    let workers = cores::available().min(items.len()).max(1);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<S> {
                    let mut tally = S::default();
                    while !failed.load(Ordering::Relaxed) {
                        let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
                        if let Err(e) = work(item, &mut tally) {
                            failed.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
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

    #[test]
    fn no_item_is_taken_after_a_failure() {
        // Item 0 fails; every other item is held until it has failed, and a little beyond,
        // as a slow page would be. A worker that went on taking items would then work
        // through the 200 one after another.
        let items: Vec<usize> = (0..200).collect();
        let item_0_failed = AtomicBool::new(false);
        let worked = AtomicUsize::new(0);
        let result = deal_out(&items, "test", |item, _: &mut usize| {
            if *item == 0 {
                item_0_failed.store(true, Ordering::SeqCst);
                return Err(Error::Internal("disk full".into()));
            }
            while !item_0_failed.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            worked.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        assert!(matches!(result, Err(Error::Internal(m)) if m == "disk full"));
        // Each other worker finishes the one item it held when item 0 failed, and no more.
        let workers = cores::available().min(items.len());
        assert!(worked.load(Ordering::SeqCst) < workers, "{} items worked", worked.load(Ordering::SeqCst));
    }
}
