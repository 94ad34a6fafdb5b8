//! How many threads a piece of work may spread over: the cores this process may use
//! (a container's or a cgroup's CPU quota included), and one when that cannot be known;
//! and independent pieces of work run on that many threads.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};

pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `task(i)` for every item `i` of `sizes`, on one thread per core (at most one per item),
/// the largest items first; the results in item order. Each task's working memory then
/// adds up over as many items as there are cores, not over all of them at once, and the
/// largest do not start last. An error only if a thread panicked (`what` names them).
pub fn largest_first<T: Send>(sizes: &[u64], what: &str, task: impl Fn(usize) -> T + Sync) -> Result<Vec<T>> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let next = AtomicUsize::new(0);
    let (order, next, task) = (&order, &next, &task);
    let done: Vec<Vec<(usize, T)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..available().min(sizes.len()))
            .map(|_| {
                s.spawn(move || {
                    let mut done = Vec::new();
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        done.push((i, task(i)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| Error::Internal(format!("a {what} thread failed"))))
            .collect::<Result<Vec<_>>>()
    })?;
    let mut results: Vec<Option<T>> = sizes.iter().map(|_| None).collect();
    for (i, result) in done.into_iter().flatten() {
        results[i] = Some(result);
    }
    results.into_iter().map(|r| r.ok_or_else(|| Error::Internal(format!("a {what} was not done")))).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_item_is_done_once_and_answered_in_item_order() {
        let sizes: Vec<u64> = vec![3, 100, 7, 0, 55];
        let results = super::largest_first(&sizes, "test", |i| sizes[i] * 2).unwrap();
        assert_eq!(results, vec![6, 200, 14, 0, 110]);
        assert!(super::largest_first(&[], "test", |i| i).unwrap().is_empty());
    }
}
