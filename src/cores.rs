//! How many threads a piece of work may spread over: the cores this process may use
//! (a container's or a cgroup's CPU quota included), and one when that cannot be known;
//! and independent pieces of work run on that many threads. Each worker takes the next
//! item when done with one, so the order the items come in (largest first) decides how
//! evenly the work falls, not which worker was dealt what.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::{Error, Result};

pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

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
    let workers = available().min(items.len()).max(1);
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

/// `task(i)` for every item `i` of `sizes`, on one thread per core (at most one per item),
/// the largest items first; the results in item order. Each task's working memory then
/// adds up over as many items as there are cores, not over all of them at once, and the
/// largest do not start last. An error only if a thread panicked (`what` names them).
pub fn largest_first<T: Send>(sizes: &[u64], what: &str, task: impl Fn(usize) -> T + Sync) -> Result<Vec<T>> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let done = deal_out(&order, what, |&i, done: &mut Vec<(usize, T)>| {
        done.push((i, task(i)));
        Ok(())
    })?;
    let mut results: Vec<Option<T>> = sizes.iter().map(|_| None).collect();
    for (i, result) in done.into_iter().flatten() {
        results[i] = Some(result);
    }
    results.into_iter().map(|r| r.ok_or_else(|| Error::Internal(format!("a {what} was not done")))).collect()
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
        let workers = available().min(items.len());
        assert!(worked.load(Ordering::SeqCst) < workers, "{} items worked", worked.load(Ordering::SeqCst));
    }

    #[test]
    fn every_item_is_done_once_and_answered_in_item_order() {
        let sizes: Vec<u64> = vec![3, 100, 7, 0, 55];
        let results = largest_first(&sizes, "test", |i| sizes[i] * 2).unwrap();
        assert_eq!(results, vec![6, 200, 14, 0, 110]);
        assert!(largest_first(&[], "test", |i| i).unwrap().is_empty());
    }
}
